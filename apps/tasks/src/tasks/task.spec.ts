import { retryDelayMs } from './task.js';

describe('retryDelayMs: exponential backoff with full jitter, capped', () => {
  const policy = { retryInitialIntervalMs: 1_000, retryBackoffCoefficient: 2, retryMaximumIntervalMs: 60_000 };

  it('draws uniformly below initial × coefficient^(attempt-1)', () => {
    expect(retryDelayMs(policy, 1, () => 0.999)).toBe(999);
    expect(retryDelayMs(policy, 2, () => 0.999)).toBe(1_998);
    expect(retryDelayMs(policy, 4, () => 0.5)).toBe(4_000);
    expect(retryDelayMs(policy, 3, () => 0)).toBe(0);
  });

  it('never exceeds the maximum interval, however many attempts', () => {
    expect(retryDelayMs(policy, 7, () => 0.999)).toBe(59_940);
    expect(retryDelayMs(policy, 100, () => 0.999)).toBe(59_940);
    for (let i = 0; i < 1_000; i++) expect(retryDelayMs(policy, 1 + (i % 30))).toBeLessThan(60_000);
  });
});
