import { MetricsRegistry } from '@agentplane/observability';
import type { TestDatabase } from '@agentplane/persistence';
import { LogCapture, testPrefix, withClockOffset, type RunningService } from '@agentplane/testing';
import { startTasks, tasksDatabase } from './setup.js';

const skewOf = async (svc: RunningService) => Number(/^database_clock_skew_seconds\{[^}]*\} (\S+)$/m.exec(await svc.app.get(MetricsRegistry).metrics())?.[1]);

// One app at a time in this file: nestjs-pino's root logger is per process, so only this app's lines are captured.
describe('an instance whose clock is off from its database\'s', () => {
  let db: TestDatabase;
  const prefix = testPrefix('clock');

  beforeAll(async () => {
    db = await tasksDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('says so at start and in database_clock_skew_seconds; one in step says nothing and reads about 0', async () => {
    const ahead = new LogCapture();
    // this process is the instance: its clock an hour ahead while it starts and is scraped
    let svc: RunningService | undefined;
    try {
      const skew = await withClockOffset(
        3_600_000,
        async () => {
          svc = await startTasks(db, prefix, {}, ahead);
          // the faked clock stands still while real time passes: a little under an hour by the scrape
          return skewOf(svc);
        },
        { moving: false },
      );
      expect([skew > 3570, skew <= 3600.5]).toEqual([true, true]);
    } finally {
      await svc?.close();
    }
    const warned = ahead.lines.filter((l) => l.includes('database_clock') || l.includes("this instance's clock"));
    expect(warned).toHaveLength(1);
    const line = JSON.parse(warned[0]!) as { level: number; skewSeconds: number; msg: string };
    expect([line.level, line.skewSeconds > 3570, line.msg]).toEqual([40, true, expect.stringMatching(/is 3[56]\d\d\.\d s ahead of the database's/)]);

    const inStep = new LogCapture();
    const again = await startTasks(db, prefix, {}, inStep);
    try {
      expect(Math.abs(await skewOf(again))).toBeLessThan(1);
    } finally {
      await again.close();
    }
    expect(inStep.lines.filter((l) => l.includes("this instance's clock"))).toEqual([]);
  });
});
