import pg from 'pg';
import { NatsCaller, testPrefix, userToken, type RawReply, type RunningService } from '@agentplane/testing';
import type { ClaimedTask, Task } from '@agentplane/contracts';
import { TaskSweeper } from '../src/tasks/task-sweeper.js';
import { startTasksHarness, type TasksHarness } from './setup.js';

/** The sweeper on two tasks instances sharing one database (DESIGN §4.1: any instance sweeps, SKIP LOCKED). */
describe('tasks sweeper', () => {
  let h: TasksHarness;
  let instances: RunningService[];
  let caller: NatsCaller;
  let sql: pg.Client;
  const prefix = testPrefix('sweeper');
  let alice: string;
  let agentId: string;

  beforeAll(async () => {
    ({ instances, caller, sql } = h = await startTasksHarness(prefix, { env: { TASKS_SWEEP_INTERVAL_MS: '100', TASKS_SWEEP_BATCH_SIZE: '7' }, instances: 2 }));
    alice = await userToken('acme', 'alice');
    agentId = ok<{ id: string }>(await caller.request('tasks.v1.create_agent', { name: 'sweep-agent' }, { token: alice })).id;
  });

  afterAll(() => h?.close());

  function ok<T>(r: RawReply): T {
    if (!r.body.ok) throw new Error(JSON.stringify(r.body.error));
    return r.body.data as T;
  }

  it('retries the task of a worker that died, within a few seconds of its lease', async () => {
    const task = ok<Task>(await caller.request('tasks.v1.create', { agentId, name: 'orphan', heartbeatTimeoutSeconds: 5, retry: { initialIntervalMs: 1, maximumIntervalMs: 1 } }, { token: alice }));
    const [claimed] = ok<{ items: ClaimedTask[] }>(await caller.request('tasks.v1.claim', { agentId, workerId: 'doomed' }, { token: alice })).items;
    const expiresAt = Date.parse(claimed!.leaseExpiresAt!);
    // the worker never heartbeats
    let t: Task;
    do {
      await new Promise((r) => setTimeout(r, 100));
      t = ok<Task>(await caller.request('tasks.v1.get', { id: task.id }, { token: alice }));
    } while (t.status === 'running' && Date.now() < expiresAt + 10_000);
    const endedAt = Date.now();
    expect(t).toMatchObject({ status: 'pending', attempt: 1, error: { type: 'lease_expired', source: 'sweeper' } });
    expect(endedAt).toBeGreaterThanOrEqual(expiresAt);
    expect(endedAt - expiresAt).toBeLessThan(2_000);
  }, 20_000);

  it('ends each expired attempt exactly once across instances, in bounded batches', async () => {
    await sql.query(
      `INSERT INTO tasks (id, tenant_id, agent_id, name, creator_user_id, status, attempt, lease_token, lease_expires_at, started_at, deadline_at, max_attempts)
       SELECT gen_random_uuid(), 'acme', $1, 'stale-' || g, 'alice', 'running', 1, gen_random_uuid(), now() - interval '1 second', now(), now() + interval '1 hour', 1
         FROM generate_series(1, 60) g`,
      [agentId],
    );
    // besides the instances' own timers, six sweeps at once, three on each instance
    const swept = await Promise.all(Array.from({ length: 6 }, (_, i) => instances[i % 2]!.app.get(TaskSweeper).sweep()));
    expect(swept.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(60);
    const counts = async () =>
      (await sql.query<{ n: number }>("SELECT count(*)::int AS n FROM tasks WHERE name LIKE 'stale-%' AND status = 'failed'")).rows[0]!.n;
    const until = Date.now() + 10_000;
    while ((await counts()) < 60 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(await counts()).toBe(60);
    const events = await sql.query<{ type: string; n: number }>(
      `SELECT e.type, count(*)::int AS n FROM task_events e JOIN tasks t ON t.id = e.task_id WHERE t.name LIKE 'stale-%' GROUP BY e.type ORDER BY e.type`,
    );
    expect(events.rows).toEqual([
      { type: 'failed', n: 60 },
      { type: 'lease_expired', n: 60 },
    ]);
    const perTask = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM task_events e JOIN tasks t ON t.id = e.task_id WHERE t.name LIKE 'stale-%' GROUP BY e.task_id HAVING count(*) <> 2`,
    );
    expect(perTask.rows).toEqual([]);
  });
});
