import { NatsCaller, testEnv, testPrefix, userToken, type RawReply } from '@agentplane/testing';
import type { ClaimedTask, Task } from '@agentplane/contracts';
import type pg from 'pg';
import { loadConfig, SERVICE } from '../src/config.js';
import { startTasksHarness, type TasksHarness } from './setup.js';

/**
 * Retention (TASKS_RETENTION_HOURS): the sweeper deletes an ended task once it finished longer ago than that, as a
 * delete would (row, history, its `deleted` event naming `system`, the deregistration of its authz resource), and
 * nothing else: not a pending or running task, not one that ended within the retention. Two instances share it.
 */
describe('tasks retention', () => {
  let h: TasksHarness;
  let caller: NatsCaller;
  let sql: pg.Client;
  const prefix = testPrefix('retention');
  let alice: string;
  let n = 0;

  beforeAll(async () => {
    ({ caller, sql } = h = await startTasksHarness(prefix, { instances: 2, env: { TASKS_RETENTION_HOURS: '1', TASKS_SWEEP_INTERVAL_MS: '100', TASKS_SWEEP_BATCH_SIZE: '3' } }));
    alice = await userToken('acme', 'alice');
  });

  afterAll(() => h?.close());

  const ok = <T>(r: RawReply): T => {
    if (!r.body.ok) throw new Error(`expected ok, got ${JSON.stringify(r.body.error)}`);
    return r.body.data as T;
  };
  const req = (subject: string, body: object) => caller.request(`tasks.v1.${subject}`, body, { token: alice, timeoutMs: 5000 });
  const createTask = async (agentId: string) => ok<Task>(await req('create', { agentId, name: `task-${++n}` }));
  const exists = async (id: string) => (await sql.query('SELECT 1 FROM tasks WHERE id = $1', [id])).rowCount === 1;

  it('deletes the ended tasks that finished before the retention, in batches, as a delete would; keeps the rest', async () => {
    const agentId = ok<{ id: string }>(await req('create_agent', { name: `agent-${++n}` })).id;
    const ended: string[] = [];
    // seven ended tasks (more than two batches of three): completed, failed and canceled
    for (let i = 0; i < 7; i++) ended.push((await createTask(agentId)).id);
    const claimed = ok<{ items: ClaimedTask[] }>(await req('claim', { agentId, workerId: 'w', max: 5 })).items;
    for (const [i, t] of claimed.entries()) {
      if (i % 2 === 0) ok(await req('complete', { id: t.id, leaseToken: t.leaseToken }));
      else ok(await req('fail', { id: t.id, leaseToken: t.leaseToken, error: { message: 'no', retryable: false } }));
    }
    for (const id of ended.filter((id) => !claimed.some((t) => t.id === id))) ok(await req('cancel', { id }));
    const recent = await createTask(agentId); // ended within the retention: kept
    ok(await req('cancel', { id: recent.id }));
    const running = await createTask(agentId);
    expect(ok<{ items: ClaimedTask[] }>(await req('claim', { agentId, workerId: 'w', max: 1 })).items.map((t) => t.id)).toEqual([running.id]);
    const pending = await createTask(agentId);
    // the ended ones finished 61 minutes ago; the running and the pending one are given an old finished_at too, which
    // their status must keep from counting
    await sql.query("UPDATE tasks SET finished_at = now() - interval '61 minutes' WHERE id = ANY($1)", [[...ended, running.id, pending.id]]);

    const deadline = Date.now() + 10_000;
    while ((await sql.query('SELECT 1 FROM tasks WHERE id = ANY($1)', [ended])).rowCount! > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    for (const id of ended) expect({ id, kept: await exists(id) }).toEqual({ id, kept: false });
    for (const t of [recent, running, pending]) expect({ id: t.id, kept: await exists(t.id) }).toEqual({ id: t.id, kept: true });
    expect((await sql.query('SELECT count(*)::int AS n FROM task_events WHERE task_id = ANY($1)', [ended])).rows[0].n).toBe(0);

    // each one's last event names the system and why; its authz resource is deregistered, once
    const events = await sql.query(
      "SELECT payload FROM outbox WHERE subject = 'events.tasks.task_updated' AND payload->>'type' = 'deleted' AND payload->>'taskId' = ANY($1)",
      [ended],
    );
    expect(events.rows.map((r) => r.payload.taskId).sort()).toEqual(ended.sort());
    for (const { payload } of events.rows) expect(payload).toMatchObject({ data: { by: 'system', reason: 'retention' }, status: expect.stringMatching(/^(completed|failed|canceled)$/) });
    const deregistered = await sql.query("SELECT payload->>'resource' AS r FROM outbox WHERE subject = 'events.tasks.resource_deregistered' AND payload->>'resource' = ANY($1)", [
      ended.map((id) => `task:${id}`),
    ]);
    expect(deregistered.rows.map((r) => r.r).sort()).toEqual(ended.map((id) => `task:${id}`).sort());
    expect((await req('get', { id: ended[0]! })).body).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });

  it('reads the retention in hours, 0 (keep every task) by default, and refuses one out of range naming the variable', () => {
    const env = (v?: string) => testEnv({ DATABASE_URL: h.db.url, ...(v === undefined ? {} : { TASKS_RETENTION_HOURS: v }) }, SERVICE);
    expect(loadConfig(env()).sweep.retentionHours).toBe(0);
    expect(loadConfig(env('720')).sweep.retentionHours).toBe(720);
    for (const bad of ['-1', '87601', '1.5', 'forever']) expect(() => loadConfig(env(bad))).toThrow(/TASKS_RETENTION_HOURS/);
  });
});
