import { ratioFactors } from '../bench/cpu.mjs';

describe('create ÷ floor by its factors (tools/bench/cpu.mjs)', () => {
  // Round 24's `npm run bench` (docs/performance.md): 4,711 floor GETs/s at 0.353 ms of CPU each, 2,119 creates/s at
  // 0.753 ms.
  const floor = { rps: 4711, cpu: { 'authz-proxy': 0.002, tasks: 0.119, gateway: 0.087, postgres: 0.066, 'nats-server': 0.047, 'load generator': 0.032 } };
  const create = { rps: 2119, cpu: { 'authz-proxy': 0.06, tasks: 0.178, gateway: 0.122, postgres: 0.235, 'nats-server': 0.1, 'load generator': 0.058 } };

  it('splits the req/s ratio into CPU and cores busy, whose product is the ratio itself', () => {
    const f = ratioFactors(floor, create)!;
    expect(f.cpu).toBeCloseTo(0.353 / 0.753, 6);
    expect(f.cores).toBeCloseTo((0.753 * 2119) / (0.353 * 4711), 6); // 1.596 ÷ 1.663 cores
    expect(f.cpu * f.cores).toBeCloseTo(2119 / 4711, 12);
    expect(f.cpu).toBeCloseTo(0.469, 3);
    expect(f.cores).toBeCloseTo(0.959, 3);
  });

  it('says nothing where a load has no CPU figures or no requests', () => {
    expect(ratioFactors({ rps: 4711, cpu: {} }, create)).toBeUndefined();
    expect(ratioFactors(floor, { ...create, rps: 0 })).toBeUndefined();
  });
});
