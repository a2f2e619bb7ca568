// How tools/bench/run-all.mjs reads a benchmark's output and shows its figures (tested in tools/src/bench-report.spec.ts).

/** The last line of a benchmark's output that is a JSON object: its figures at full precision. */
export function lastJson(lines) {
  for (const l of [...lines].reverse()) {
    if (!l.startsWith('{')) continue;
    try {
      return JSON.parse(l);
    } catch {
      /* not the summary */
    }
  }
  return undefined;
}

/**
 * A figure as the report shows it: three decimals, or as many more as it takes for the shown figure to be judged as
 * the figure itself is by `ok` (0.8497 against ≥ 0.85 shows as 0.8497, never as a 0.850 marked "no").
 */
export function fmtValue(v, ok = null) {
  if (v === undefined || Number.isNaN(v)) return 'n/a';
  if (Number.isInteger(v)) return String(v);
  for (let digits = 3; digits < 8; digits++) {
    const shown = v.toFixed(digits);
    if (!ok || ok(Number(shown)) === ok(v)) return shown;
  }
  return String(v);
}
