import pg from 'pg';
import { MetricsRegistry } from '@agentplane/observability';
import type { TestDatabase } from '@agentplane/persistence';
import type { ClaimedTask, Task } from '@agentplane/contracts';
import { LogCapture, NatsCaller, testPrefix, userToken, withClockOffset, type RawReply, type RunningService } from '@agentplane/testing';
import { startTasks, tasksDatabase } from './setup.js';

const skewOf = async (svc: RunningService) => Number(/^database_clock_skew_seconds\{[^}]*\} (\S+)$/m.exec(await svc.app.get(MetricsRegistry).metrics())?.[1]);

// One app at a time in this file: nestjs-pino's root logger is per process, so only this app's lines are captured.
describe('an instance whose clock is off from its database\'s', () => {
  let db: TestDatabase;
  let sql: pg.Client;
  const prefix = testPrefix('clock');

  beforeAll(async () => {
    db = await tasksDatabase();
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
  });

  afterAll(async () => {
    await sql?.end();
    await db?.drop();
  });

  const ok = <T>(r: RawReply): T => {
    if (!r.body.ok) throw new Error(`expected ok, got ${JSON.stringify(r.body.error)}`);
    return r.body.data as T;
  };
  const dbNow = async () => ((await sql.query('SELECT clock_timestamp() AS t')).rows[0].t as Date).getTime();

  it('says so at start and in database_clock_skew_seconds; stamps a new task with the database\'s time, and wakes a claim when a task is due by it', async () => {
    const ahead = new LogCapture();
    const caller = await NatsCaller.connect(prefix);
    let svc: RunningService | undefined;
    const before = await dbNow();
    try {
      // this process is the instance: its clock an hour ahead while it starts, serves and is scraped
      const { skew, task, claimed, later } = await withClockOffset(3_600_000, async () => {
        // a long-poll looks again only every 10 s: what answers it below is a wake-up at the due time
        svc = await startTasks(db, prefix, { TASKS_LONG_POLL_RECHECK_MS: '10000' }, ahead);
        const alice = await userToken('acme', 'alice');
        const req = (subject: string, body: object) => caller.request(`tasks.v1.${subject}`, body, { token: alice, timeoutMs: 15_000 });
        const agentId = ok<{ id: string }>(await req('create_agent', { name: 'ahead' })).id;
        const task = ok<Task>(await req('create', { agentId, name: 'stamped' }));
        // an hour ahead, its runAfter was an hour away: a claim waiting 2 s found nothing
        const claimed = ok<{ items: ClaimedTask[] }>(await req('claim', { agentId, workerId: 'w', waitMs: 2_000 })).items;
        // a task due in 1.5 s by the database's clock: the claim waiting for it is woken then (an hour ahead, it was
        // woken at once, found nothing due, and waited out its 8 s)
        const claiming = req('claim', { agentId, workerId: 'w', waitMs: 8_000 });
        await new Promise((r) => setTimeout(r, 300));
        const t0 = performance.now();
        const later = ok<Task>(await req('create', { agentId, name: 'due-later', runAfter: new Date((await dbNow()) + 1_500).toISOString() }));
        const next = ok<{ items: ClaimedTask[] }>(await claiming).items;
        const waitedMs = performance.now() - t0;
        return { skew: await skewOf(svc), task, claimed, later: { id: later.id, next, waitedMs } };
      });
      expect([later.next.map((t) => t.id), later.waitedMs > 1_000, later.waitedMs < 5_000]).toEqual([[later.id], true, true]);
      // Jest's moving fake clock ticks a millisecond per timer turn, so it falls a little behind real time as it runs
      expect([skew > 3580, skew <= 3600.5]).toEqual([true, true]);
      const after = await dbNow();
      const at = Date.parse(task.createdAt);
      expect([at >= before - 50, at <= after + 50, task.runAfter]).toEqual([true, true, task.createdAt]);
      expect(claimed.map((t) => t.id)).toEqual([task.id]);
      // and a GET reads back what the create answered
      expect((await sql.query('SELECT created_at FROM tasks WHERE id = $1', [task.id])).rows[0].created_at.toISOString()).toBe(task.createdAt);
    } finally {
      await svc?.close();
      await caller.close();
    }
    const warned = ahead.lines.filter((l) => l.includes('database_clock') || l.includes("this instance's clock"));
    expect(warned).toHaveLength(1);
    const line = JSON.parse(warned[0]!) as { level: number; skewSeconds: number; msg: string };
    expect([line.level, line.skewSeconds > 3590, line.msg]).toEqual([40, true, expect.stringMatching(/is 3[56]\d\d\.\d s ahead of the database's/)]);

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
