import { backoffMs } from './backoff.js';

describe('backoffMs', () => {
  it('grows exponentially up to the cap, with full jitter below it', () => {
    expect(backoffMs(0, 100, 5000, () => 0.999)).toBe(99);
    expect(backoffMs(3, 100, 5000, () => 0.999)).toBe(799);
    expect(backoffMs(10, 100, 5000, () => 0.999)).toBe(4995);
    expect(backoffMs(10, 100, 5000, () => 0)).toBe(0);
  });
});
