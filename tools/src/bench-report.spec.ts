import { fmtValue, lastJson } from '../bench/report.mjs';

describe('the bench report (tools/bench/run-all.mjs)', () => {
  const atLeast = (t: number) => (v: number) => v >= t;

  it('shows a figure with as many decimals as it takes to be judged as the figure itself', () => {
    // The bench printed 0.850 FAIL for 0.8497 and the report, reading that text, said 0.850 met (2026-12-04).
    expect(fmtValue(0.84973, atLeast(0.85))).toBe('0.8497');
    expect(fmtValue(0.84999, atLeast(0.85))).toBe('0.84999');
    expect(fmtValue(0.8503, atLeast(0.85))).toBe('0.850');
    expect(fmtValue(0.861, atLeast(0.85))).toBe('0.861');
    expect(fmtValue(1.00004, (v) => v <= 1)).toBe('1.00004');
    expect(fmtValue(0.4431, null)).toBe('0.443');
    expect(fmtValue(3)).toBe('3');
    expect(fmtValue(undefined)).toBe('n/a');
  });

  it('reads the figures from the last JSON line a bench printed, at full precision', () => {
    const out = ['owner path, ratio with/without key: 0.850 (target ≥ 0.85) FAIL', '{"bench":"first"}', '{not json', '{"bench":"idempotency","owner_ratio":0.84973}', 'done'];
    expect(lastJson(out)).toEqual({ bench: 'idempotency', owner_ratio: 0.84973 });
    expect(lastJson(['no figures'])).toBeUndefined();
  });
});
