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
    const started = Date.now();
    job.start({ atOnce: true });
    expect(runs).toBe(1); // before any tick of the timer
    // a second run comes at a tick after the first ends (a loaded machine may take longer than 200 ms to get there)
    while (runs < 2 && Date.now() - started < 5_000) await sleep(10);
    await sleep(150);
    await job.stop();
    const elapsed = Date.now() - started;
    expect(most).toBe(1);
    expect(runs).toBeGreaterThanOrEqual(2);
    // 45 ms each, back to back at most: the ticks in between were skipped
    expect(runs).toBeLessThanOrEqual(Math.ceil(elapsed / 45) + 1);
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
