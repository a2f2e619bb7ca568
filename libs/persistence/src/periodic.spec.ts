import { describe, expect, it } from '@jest/globals';
import { PeriodicJob } from './periodic.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PeriodicJob', () => {
  it('runs every interval, never two at once, and at once when asked', async () => {
    let runs = 0;
    let inFlight = 0;
    let most = 0;
    const job = new PeriodicJob(
      async () => {
        runs++;
        most = Math.max(most, ++inFlight);
        await sleep(45);
        inFlight--;
      },
      10,
      () => undefined,
    );
    job.start({ atOnce: true });
    expect(runs).toBe(1); // before any tick of the timer
    await sleep(200);
    await job.stop();
    expect(most).toBe(1);
    expect(runs).toBeGreaterThanOrEqual(2);
    expect(runs).toBeLessThanOrEqual(5); // 45 ms each, back to back at most: the ticks in between were skipped
  });

  it('hands a failure to onError and tries again at the next tick', async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const job = new PeriodicJob(
      async () => {
        if (++runs === 1) throw new Error('database gone');
      },
      10,
      (err) => errors.push(err),
    );
    job.start();
    await sleep(80);
    await job.stop();
    expect(errors).toEqual([new Error('database gone')]);
    expect(runs).toBeGreaterThan(1);
  });

  it('stop ends the ticks and waits for the run under way', async () => {
    let done = false;
    let runs = 0;
    const job = new PeriodicJob(
      async () => {
        runs++;
        await sleep(60);
        done = true;
      },
      1_000,
      () => undefined,
    );
    job.start({ atOnce: true });
    await job.stop();
    expect(done).toBe(true);
    const after = runs;
    await sleep(30);
    expect(runs).toBe(after);
  });
});
