import pg from 'pg';
import { NatsCaller, testPrefix, userToken, withClockOffset, type RawReply, type RunningService } from '@agentplane/testing';
import { fetchMetrics, metricValue } from '@agentplane/observability';
import { TASK_LIMITS, tasksEvents, type ClaimedTask, type Task } from '@agentplane/contracts';
import { startTasksHarness, type TasksHarness } from './setup.js';
import { newId } from '@agentplane/domain';
import { COMPLETE_FUSED, DELETE_BY_ID, FIND_BY_ID, LOCK_BY_ID } from '../src/tasks/tasks.repository.js';

/**
 * Long-polls here recheck only every 5 s, so one answered within WOKEN_WITHIN_MS of its event was woken by it, not by
 * a recheck; the margin leaves room for a loaded machine (two cores, jest workers in parallel).
 */
const RECHECK_MS = 5_000;
const WOKEN_WITHIN_MS = 1_000;

/**
 * The worker protocol of DESIGN §4.1 on one tasks instance (no authz proxy: the creator of the agent and its tasks is
 * their owner, so alice may execute them; grants to other workers are in tools/test/e2e/worker.e2e-spec.ts).
 * Lease expiry and timeouts are brought forward by moving the deadline in the database, not by waiting minutes.
 */
describe('tasks worker protocol', () => {
  let h: TasksHarness;
  let svc: RunningService;
  let caller: NatsCaller;
  let sql: pg.Client;
  const prefix = testPrefix('worker');
  let alice: string;
  let n = 0;

  beforeAll(async () => {
    ({ svc, caller, sql } = h = await startTasksHarness(prefix, { env: { TASKS_SWEEP_INTERVAL_MS: '100', TASKS_LONG_POLL_RECHECK_MS: String(RECHECK_MS) } }));
    alice = await userToken('acme', 'alice');
  });

  afterAll(() => h?.close());

  const ok = <T>(r: RawReply): T => {
    if (!r.body.ok) throw new Error(`expected ok, got ${JSON.stringify(r.body.error)}`);
    return r.body.data as T;
  };
  const req = (subject: string, body: object, token = alice, timeoutMs = 5000) => caller.request(`tasks.v1.${subject}`, body, { token, timeoutMs });
  const newAgent = async (extra: object = {}) => ok<{ id: string }>(await req('create_agent', { name: `agent-${++n}`, ...extra })).id;
  const createTask = async (agentId: string, extra: object = {}) => ok<Task>(await req('create', { agentId, name: `task-${++n}`, ...extra }));
  const claim = async (agentId: string, extra: object = {}, timeoutMs = 5000) =>
    ok<{ items: ClaimedTask[] }>(await req('claim', { agentId, workerId: 'w1', ...extra }, alice, timeoutMs)).items;
  const events = async (id: string) => ok<{ items: Array<{ seq: number; type: string; at: string; data: Record<string, unknown> }> }>(await req('list_events', { id })).items;
  const waitFor = async <T>(read: () => Promise<T>, done: (v: T) => boolean, ms = 5000): Promise<T> => {
    const until = Date.now() + ms;
    for (;;) {
      const v = await read();
      if (done(v) || Date.now() > until) return v;
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const leaseLost = { ok: false, error: { code: 'CONFLICT', details: { reason: 'lease_lost' } } };

  it('claims only as many big tasks as one reply carries; the rest stay pending for the next claim', async () => {
    const agentId = await newAgent();
    const ids: string[] = [];
    // 250 KB of params each: five would be 1.25 MB, over one NATS message
    for (let i = 0; i < 5; i++) ids.push((await createTask(agentId, { params: { blob: `${i}`.repeat(250_000) } })).id);
    const first = await claim(agentId, { max: 5 });
    expect(first.length).toBeGreaterThan(0);
    expect(first.length).toBeLessThan(5);
    for (const t of first) expect(t.params).toEqual({ blob: expect.any(String) });
    const rest = await claim(agentId, { max: 5 });
    const third = await claim(agentId, { max: 5 });
    expect([...first, ...rest, ...third].map((t) => t.id).sort()).toEqual([...ids].sort());
    // small tasks still come `max` at a time
    const small = await newAgent();
    for (let i = 0; i < 12; i++) await createTask(small);
    expect(await claim(small, { max: 10 })).toHaveLength(10);
  });

  it('pages a history too big for one reply: fewer events per page, each once, the cursor after the last held', async () => {
    const agentId = await newAgent();
    const task = await createTask(agentId);
    const [claimed] = await claim(agentId);
    // 60 progress events of about 16 KB each: a page of 100 would be about 1 MB, over one NATS message
    for (let i = 0; i < 60; i++) ok(await req('heartbeat', { id: task.id, leaseToken: claimed!.leaseToken, progress: `${i}`.padEnd(16_000, '.') }));
    type Page = { items: Array<{ seq: number }>; nextAfter: number | null };
    const first = ok<Page>(await req('list_events', { id: task.id, limit: 100 }));
    expect(first.items.length).toBeLessThan(62);
    expect(first.nextAfter).toBe(first.items.at(-1)!.seq);
    const seqs: number[] = [];
    for (let after: number | null = 0; after !== null; ) {
      const page: Page = ok<Page>(await req('list_events', { id: task.id, after, limit: 100 }));
      seqs.push(...page.items.map((e) => e.seq));
      after = page.nextAfter;
    }
    expect(seqs).toEqual(Array.from({ length: 62 }, (_, i) => i + 1));
  });

  it('claims, heartbeats with progress, completes; the history records each step', async () => {
    const agentId = await newAgent();
    const task = await createTask(agentId, { params: { n: 1 }, heartbeatTimeoutSeconds: 30 });
    expect(task).toMatchObject({ status: 'pending', attempt: 0, maxAttempts: 3, priority: 0, cancelRequested: false, leaseExpiresAt: null, timeoutSeconds: 3600 });

    const [claimed, ...rest] = await claim(agentId, { max: 5 });
    expect(rest).toEqual([]);
    expect(claimed).toMatchObject({ id: task.id, status: 'running', attempt: 1, workerId: 'w1' });
    expect(claimed!.leaseToken).toMatch(/^[0-9a-f-]{36}$/);
    const lease = Date.parse(claimed!.leaseExpiresAt!) - Date.parse(claimed!.startedAt!);
    expect(lease).toBe(30_000);
    expect(await claim(agentId)).toEqual([]);

    const hb = ok<{ leaseExpiresAt: string; cancelRequested: boolean }>(await req('heartbeat', { id: task.id, leaseToken: claimed!.leaseToken, progress: { done: 1 } }));
    expect(hb.cancelRequested).toBe(false);
    expect(Date.parse(hb.leaseExpiresAt)).toBeGreaterThanOrEqual(Date.parse(claimed!.leaseExpiresAt!));
    // the same progress again is no new event
    ok(await req('heartbeat', { id: task.id, leaseToken: claimed!.leaseToken, progress: { done: 1 } }));

    const done = ok<Task>(await req('complete', { id: task.id, leaseToken: claimed!.leaseToken, result: { answer: 42 } }));
    expect(done).toMatchObject({ status: 'completed', result: { answer: 42 }, progress: { done: 1 }, attempt: 1, leaseExpiresAt: null });
    expect(done.finishedAt).not.toBeNull();

    expect((await events(task.id)).map((e) => [e.seq, e.type])).toEqual([[1, 'created'], [2, 'claimed'], [3, 'progress'], [4, 'completed']]);
    const outbox = await sql.query("SELECT payload FROM outbox WHERE subject = 'events.tasks.task_updated' AND payload->>'taskId' = $1 ORDER BY (payload->>'seq')::int", [task.id]);
    expect(outbox.rows.map((r) => [r.payload.type, r.payload.status])).toEqual([['created', 'pending'], ['claimed', 'running'], ['progress', 'running'], ['completed', 'completed']]);
    // each published event carries its history row's seq and time exactly (the statement that writes both renders `at`)
    const history = await events(task.id);
    expect(outbox.rows.map((r) => [r.payload.seq, r.payload.at])).toEqual(history.map((e) => [e.seq, e.at]));
    // … and its data, in the event contract's shape, whether the statement or TaskHistory built the payload
    expect(outbox.rows.map((r) => r.payload.data)).toEqual(history.map((e) => e.data));
    expect(history.map((e) => e.data)).toEqual([
      { priority: 0, runAfter: task.runAfter },
      { attempt: 1, workerId: 'w1', leaseExpiresAt: claimed!.leaseExpiresAt },
      { attempt: 1, progress: { done: 1 } },
      { attempt: 1, workerId: 'w1' },
    ]);
    for (const r of outbox.rows) {
      expect(tasksEvents.taskUpdated.payload.parse(r.payload)).toEqual(r.payload);
      expect(r.payload).toMatchObject({ taskId: task.id, tenantId: 'acme', agentId, attempt: r.payload.type === 'created' ? 0 : 1 });
    }
    expect(history.every((e) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(e.at))).toBe(true);
    // the create's transaction also wrote the task's authz registration
    const registered = await sql.query("SELECT count(*)::int AS n FROM outbox_messages WHERE subject = 'events.tasks.resource_registered' AND payload->>'resource' = $1", [`task:${task.id}`]);
    expect(registered.rows[0].n).toBe(1);
  });

  it('gives a task and every outbox row of its life a UUIDv7 of the moment it was written, in the order written', async () => {
    const millisOf = (id: string) => parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    const isV7 = (id: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id);
    const before = Date.now();
    const agentId = await newAgent();
    const task = await createTask(agentId); // the create statement's own outbox ids (NEW_OUTBOX_ID_SQL)
    const [claimed] = await claim(agentId); // the fused claim's
    ok(await req('heartbeat', { id: task.id, leaseToken: claimed!.leaseToken, progress: { done: 1 } })); // TaskHistory's (newId)
    ok(await req('complete', { id: task.id, leaseToken: claimed!.leaseToken, result: {} })); // the fused complete's
    const after = Date.now();

    for (const id of [agentId, task.id]) {
      expect(isV7(id)).toBe(true);
      expect(millisOf(id)).toBeGreaterThanOrEqual(before);
    }
    const rows = await sql.query<{ id: string; subject: string }>(
      `SELECT id::text, subject FROM outbox_messages WHERE payload->>'taskId' = $1 OR payload->>'resource' = $2 ORDER BY coalesce((payload->>'seq')::int, 0)`,
      [task.id, `task:${task.id}`],
    );
    expect(rows.rows.map((r) => r.subject)).toEqual([
      'events.tasks.resource_registered',
      ...['created', 'claimed', 'progress', 'completed'].map(() => 'events.tasks.task_updated'),
    ]);
    for (const { id } of rows.rows) {
      expect(isV7(id)).toBe(true);
      expect(millisOf(id)).toBeGreaterThanOrEqual(before);
      expect(millisOf(id)).toBeLessThanOrEqual(after);
    }
    const stamps = rows.rows.map((r) => millisOf(r.id));
    expect(stamps).toEqual([...stamps].sort((a, b) => a - b));
  });

  it('answers a repeated complete or fail with the same task; a different result or a heartbeat after the end is lease_lost', async () => {
    const agentId = await newAgent();
    const a = await createTask(agentId);
    const [ca] = await claim(agentId);
    const first = ok<Task>(await req('complete', { id: a.id, leaseToken: ca!.leaseToken, result: { r: 1 } }));
    expect(ok<Task>(await req('complete', { id: a.id, leaseToken: ca!.leaseToken, result: { r: 1 } }))).toEqual(first);
    expect((await req('complete', { id: a.id, leaseToken: ca!.leaseToken, result: { r: 2 } })).body).toMatchObject(leaseLost);
    expect((await req('heartbeat', { id: a.id, leaseToken: ca!.leaseToken })).body).toMatchObject(leaseLost);
    expect((await req('fail', { id: a.id, leaseToken: ca!.leaseToken, error: { message: 'x' } })).body).toMatchObject(leaseLost);

    const b = await createTask(agentId, { maxAttempts: 1 });
    const [cb] = await claim(agentId);
    const failed = ok<Task>(await req('fail', { id: b.id, leaseToken: cb!.leaseToken, error: { message: 'boom', type: 'Crash' } }));
    expect(failed).toMatchObject({ status: 'failed', error: { message: 'boom', type: 'Crash', retryable: true } });
    expect(ok<Task>(await req('fail', { id: b.id, leaseToken: cb!.leaseToken, error: { message: 'boom', type: 'Crash' } }))).toEqual(failed);
    expect((await req('fail', { id: b.id, leaseToken: cb!.leaseToken, error: { message: 'other' } })).body).toMatchObject(leaseLost);
    expect((await req('complete', { id: b.id, leaseToken: cb!.leaseToken })).body).toMatchObject(leaseLost);
  });

  it('takes a lease token and ids written in upper case as the same ones', async () => {
    const agentId = await newAgent();
    const a = await createTask(agentId);
    const [ca] = await claim(agentId.toUpperCase());
    const upper = { id: a.id.toUpperCase(), leaseToken: ca!.leaseToken.toUpperCase() };
    expect(ok<{ cancelRequested: boolean }>(await req('heartbeat', { ...upper, progress: 1 })).cancelRequested).toBe(false);
    expect(ok<Task>(await req('get', { id: upper.id }))).toMatchObject({ id: a.id, status: 'running', progress: 1 });
    const done = ok<Task>(await req('complete', { ...upper, result: 'r' }));
    expect(done).toMatchObject({ id: a.id, status: 'completed' });
    // the repeat in lower case answers the same: one token
    expect(ok<Task>(await req('complete', { id: a.id, leaseToken: ca!.leaseToken, result: 'r' }))).toEqual(done);
    const b = await createTask(agentId, { maxAttempts: 1 });
    const [cb] = await claim(agentId);
    expect(ok<Task>(await req('fail', { id: b.id, leaseToken: cb!.leaseToken.toUpperCase(), error: { message: 'x' } }))).toMatchObject({ status: 'failed' });
  });

  it('retries a failed attempt after the backoff as attempt 2 with a new token; the old token is fenced', async () => {
    const agentId = await newAgent();
    const task = await createTask(agentId, { retry: { initialIntervalMs: 400, backoffCoefficient: 2, maximumIntervalMs: 400 } });
    const [first] = await claim(agentId);
    const retried = ok<Task>(await req('fail', { id: task.id, leaseToken: first!.leaseToken, error: { message: 'flaky' } }));
    expect(retried).toMatchObject({ status: 'pending', attempt: 1, error: { message: 'flaky', retryable: true } });
    const delay = Date.parse(retried.runAfter) - Date.parse(retried.updatedAt);
    expect(delay).toBeGreaterThanOrEqual(-50);
    expect(delay).toBeLessThanOrEqual(450);
    // not claimable before runAfter; then it is, as attempt 2
    // (only when runAfter is far enough ahead that a slow claim round trip under load cannot reach it)
    if (Date.parse(retried.runAfter) > Date.now() + 250) expect(await claim(agentId)).toEqual([]);
    const [second] = await waitFor(() => claim(agentId), (items) => items.length > 0, 3000);
    expect(second).toMatchObject({ id: task.id, attempt: 2, status: 'running' });
    expect(second!.leaseToken).not.toBe(first!.leaseToken);

    for (const [subject, body] of [
      ['heartbeat', {}],
      ['complete', { result: 'late' }],
      ['fail', { error: { message: 'flaky' } }],
    ] as const) {
      expect((await req(subject, { id: task.id, leaseToken: first!.leaseToken, ...body })).body).toMatchObject(leaseLost);
    }
    const row = ok<Task>(await req('get', { id: task.id }));
    expect(row).toMatchObject({ status: 'running', attempt: 2, result: null });
    const types = (await events(task.id)).map((e) => e.type);
    expect(types).toEqual(['created', 'claimed', 'retry_scheduled', 'claimed']);
  });

  it('fails for good when the error is not retryable or attempts are used up', async () => {
    const agentId = await newAgent();
    const t1 = await createTask(agentId);
    const [c1] = await claim(agentId);
    expect(ok<Task>(await req('fail', { id: t1.id, leaseToken: c1!.leaseToken, error: { message: 'bad input', retryable: false } }))).toMatchObject({ status: 'failed' });

    const t2 = await createTask(agentId, { maxAttempts: 2, retry: { initialIntervalMs: 1, maximumIntervalMs: 1 } });
    const [a1] = await claim(agentId);
    expect(ok<Task>(await req('fail', { id: t2.id, leaseToken: a1!.leaseToken, error: { message: 'e1' } })).status).toBe('pending');
    const [a2] = await waitFor(() => claim(agentId), (i) => i.length > 0);
    expect(ok<Task>(await req('fail', { id: t2.id, leaseToken: a2!.leaseToken, error: { message: 'e2' } }))).toMatchObject({ status: 'failed', attempt: 2, error: { message: 'e2' } });
  });

  it('never hands out one task twice to 8 concurrent claimers over 200 tasks', async () => {
    const agentId = await newAgent();
    await sql.query(
      `INSERT INTO tasks (id, tenant_id, agent_id, name, creator_user_id) SELECT gen_random_uuid(), 'acme', $1, 'bulk-' || g, 'alice' FROM generate_series(1, 200) g`,
      [agentId],
    );
    const seen: string[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (;;) {
          const items = ok<{ items: ClaimedTask[] }>(await req('claim', { agentId, workerId: `w${w}`, max: 7 })).items;
          if (items.length === 0) return;
          seen.push(...items.map((t) => t.id));
        }
      }),
    );
    expect(seen).toHaveLength(200);
    expect(new Set(seen).size).toBe(200);
    const counts = await sql.query("SELECT status, attempt, count(*)::int AS n FROM tasks WHERE agent_id = $1 GROUP BY status, attempt", [agentId]);
    expect(counts.rows).toEqual([{ status: 'running', attempt: 1, n: 200 }]);
  });

  it('claims by priority, then oldest; not before runAfter; never past maxConcurrency', async () => {
    const agentId = await newAgent();
    const low = await createTask(agentId, { priority: 1 });
    const high = await createTask(agentId, { priority: 10 });
    const later = await createTask(agentId, { priority: 100, runAfter: new Date(Date.now() + 60_000).toISOString() });
    const low2 = await createTask(agentId, { priority: 1 });
    expect((await claim(agentId, { max: 10 })).map((t) => t.id)).toEqual([high.id, low.id, low2.id]);
    expect(later.runAfter).not.toBe(later.createdAt);

    const capped = await newAgent({ maxConcurrency: 2 });
    expect(ok<{ maxConcurrency: number }>(await req('get_agent', { id: capped })).maxConcurrency).toBe(2);
    for (let i = 0; i < 5; i++) await createTask(capped);
    const parallel = await Promise.all(Array.from({ length: 4 }, () => claim(capped, { max: 2 })));
    const claimed = parallel.flat();
    expect(claimed).toHaveLength(2);
    expect(await claim(capped)).toEqual([]);
    ok(await req('complete', { id: claimed[0]!.id, leaseToken: claimed[0]!.leaseToken }));
    expect(await claim(capped, { max: 5 })).toHaveLength(1);
    // a claim held back by the cap wakes when a running attempt ends
    const one = await newAgent({ maxConcurrency: 1 });
    await createTask(one);
    const queued = await createTask(one);
    const [running] = await claim(one);
    const blocked = claim(one, { waitMs: 5_000 }, 10_000).then((items) => ({ items, at: Date.now() }));
    await new Promise((r) => setTimeout(r, 200));
    ok(await req('complete', { id: running!.id, leaseToken: running!.leaseToken }));
    const freedAt = Date.now();
    const unblocked = await blocked;
    expect(unblocked.items.map((t) => t.id)).toEqual([queued.id]);
    expect(unblocked.at - freedAt).toBeLessThan(WOKEN_WITHIN_MS);

    const stats = ok<Record<string, unknown>>(await req('agent_stats', { id: capped }));
    expect(stats).toMatchObject({ pending: 2, running: 2, completed: 1, failed: 0, canceled: 0 });
    expect(stats.oldestPendingAt).not.toBeNull();
  });

  it('wakes a long-polling claim at a create, well before a recheck, and holds no pool connection while waiting', async () => {
    const agentId = await newAgent();
    const started = Date.now();
    const polling = claim(agentId, { waitMs: 10_000 }, 15_000).then((items) => ({ items, at: Date.now() }));
    await new Promise((r) => setTimeout(r, 400));
    // While it waits, this instance's pool is idle: no statement of it is active, nor a transaction open. The
    // sweeper (every 100 ms here) and the outbox relay run short statements meanwhile: a claim holding a connection
    // would show in every sample, they do not.
    const busy: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await sql.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state IN ('active', 'idle in transaction') AND pid <> pg_backend_pid()");
      busy.push(r.rows[0].n);
      await new Promise((res) => setTimeout(res, 25));
    }
    expect(Math.min(...busy)).toBe(0);
    const created = await createTask(agentId);
    const createdAt = Date.now();
    const { items, at } = await polling;
    expect(items.map((t) => t.id)).toEqual([created.id]);
    expect(at - createdAt).toBeLessThan(WOKEN_WITHIN_MS);
    expect(at - started).toBeLessThan(5_000);

    // a retried task wakes it when its backoff is over (the notification names the due time), not a recheck later
    const flaky = await createTask(agentId, { retry: { initialIntervalMs: 600, backoffCoefficient: 1, maximumIntervalMs: 600 } });
    const [c] = await claim(agentId);
    expect(c!.id).toBe(flaky.id);
    const waiting = claim(agentId, { waitMs: 5_000 }, 10_000).then((items) => ({ items, at: Date.now() }));
    await new Promise((r) => setTimeout(r, 100));
    const retried = ok<Task>(await req('fail', { id: flaky.id, leaseToken: c!.leaseToken, error: { message: 'again' } }));
    const again = await waiting;
    expect(again.items.map((t) => [t.id, t.attempt])).toEqual([[flaky.id, 2]]);
    expect(again.at - Date.parse(retried.runAfter)).toBeLessThan(WOKEN_WITHIN_MS);

    // with nothing arriving, it answers empty when the wait ends
    const t0 = Date.now();
    expect(await claim(agentId, { waitMs: 300 })).toEqual([]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it('wakes a waiting claim at its task\'s due time: a retry on a capped agent, and two tasks due at two times', async () => {
    const retry = { initialIntervalMs: 600, backoffCoefficient: 1, maximumIntervalMs: 600 };
    const timed = (items: Promise<ClaimedTask[]>) => items.then((got) => ({ got, at: Date.now() }));
    // the attempt's end frees a slot now, and its task is due after the backoff: both wake-ups are kept
    const capped = await newAgent({ maxConcurrency: 2 });
    const flaky = await createTask(capped, { retry });
    const [c] = await claim(capped);
    const waiting = timed(claim(capped, { waitMs: 5_000 }, 10_000));
    await new Promise((r) => setTimeout(r, 100));
    const retried = ok<Task>(await req('fail', { id: flaky.id, leaseToken: c!.leaseToken, error: { message: 'again' } }));
    const again = await waiting;
    expect(again.got.map((t) => [t.id, t.attempt])).toEqual([[flaky.id, 2]]);
    expect(again.at - Date.parse(retried.runAfter)).toBeLessThan(WOKEN_WITHIN_MS);

    // two claims waiting, two tasks due at two times: the later one is not lost to the earlier one's claim
    const agentId = await newAgent();
    const claims = [timed(claim(agentId, { waitMs: 8_000 }, 12_000)), timed(claim(agentId, { waitMs: 8_000 }, 12_000))];
    await new Promise((r) => setTimeout(r, 100));
    const soon = await createTask(agentId, { runAfter: new Date(Date.now() + 600).toISOString() });
    const later = await createTask(agentId, { runAfter: new Date(Date.now() + 1_200).toISOString() });
    const answered = await Promise.all(claims);
    const due = new Map([soon, later].map((t) => [t.id, Date.parse(t.runAfter)]));
    expect(answered.map((a) => a.got.length)).toEqual([1, 1]);
    for (const a of answered) expect(a.at - due.get(a.got[0]!.id)!).toBeLessThan(WOKEN_WITHIN_MS);
  });

  it('ends an expired lease: retried, and with maxAttempts 1 failed as lease_expired; a late complete is fenced', async () => {
    const agentId = await newAgent();
    const task = await createTask(agentId, { retry: { initialIntervalMs: 1, maximumIntervalMs: 1 } });
    const [c] = await claim(agentId);
    await sql.query("UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = $1", [task.id]);
    const retried = await waitFor(() => req('get', { id: task.id }).then((r) => ok<Task>(r)), (t) => t.status === 'pending');
    expect(retried).toMatchObject({ status: 'pending', attempt: 1, error: { type: 'lease_expired', retryable: true } });
    expect((await req('complete', { id: task.id, leaseToken: c!.leaseToken })).body).toMatchObject(leaseLost);
    expect((await req('fail', { id: task.id, leaseToken: c!.leaseToken, error: { message: 'attempt 1 missed its heartbeat (lease expired)', type: 'lease_expired' } })).body).toMatchObject(leaseLost);
    const [again] = await waitFor(() => claim(agentId), (i) => i.length > 0);
    expect(again).toMatchObject({ id: task.id, attempt: 2 });
    expect((await events(task.id)).map((e) => e.type)).toEqual(['created', 'claimed', 'lease_expired', 'retry_scheduled', 'claimed']);

    const once = await createTask(agentId, { maxAttempts: 1 });
    await claim(agentId);
    await sql.query("UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = $1", [once.id]);
    const failed = await waitFor(() => req('get', { id: once.id }).then((r) => ok<Task>(r)), (t) => t.status === 'failed');
    expect(failed).toMatchObject({ status: 'failed', attempt: 1, error: { type: 'lease_expired' } });
  });

  it('ends an attempt past its timeoutSeconds as timed_out', async () => {
    const agentId = await newAgent();
    const task = await createTask(agentId, { maxAttempts: 1, timeoutSeconds: 1 });
    const [c] = await claim(agentId);
    // heartbeats keep the lease, not the attempt's deadline
    ok(await req('heartbeat', { id: task.id, leaseToken: c!.leaseToken }));
    const failed = await waitFor(() => req('get', { id: task.id }).then((r) => ok<Task>(r)), (t) => t.status === 'failed', 4000);
    expect(failed).toMatchObject({ status: 'failed', error: { type: 'timed_out' } });
    expect((await events(task.id)).map((e) => e.type)).toEqual(['created', 'claimed', 'timed_out', 'failed']);
  });

  it('cancels a pending task at once, a running one on its next fail or expiry (a complete still wins), and one waiting out a backoff', async () => {
    const agentId = await newAgent();
    const pending = await createTask(agentId, { priority: -1 });
    expect(ok<Task>(await req('cancel', { id: pending.id }))).toMatchObject({ status: 'canceled' });
    // the history names who canceled (the audit a cancel owes, as a create's creator fields do)
    expect((await events(pending.id)).at(-1)).toMatchObject({ type: 'canceled', data: { attempt: 0, by: 'user:alice' } });

    const running = await createTask(agentId);
    const [c] = await claim(agentId);
    expect(c!.id).toBe(running.id);
    expect(ok<Task>(await req('cancel', { id: running.id }))).toMatchObject({ status: 'running', cancelRequested: true });
    expect(ok<Task>(await req('cancel', { id: running.id }))).toMatchObject({ status: 'running', cancelRequested: true });
    expect(ok<{ cancelRequested: boolean }>(await req('heartbeat', { id: running.id, leaseToken: c!.leaseToken })).cancelRequested).toBe(true);
    expect(ok<Task>(await req('fail', { id: running.id, leaseToken: c!.leaseToken, error: { message: 'stopping' } }))).toMatchObject({ status: 'canceled' });
    expect((await events(running.id)).map((e) => e.type)).toEqual(['created', 'claimed', 'cancel_requested', 'canceled']);
    expect((await events(running.id))[2]).toMatchObject({ type: 'cancel_requested', data: { attempt: 1, by: 'user:alice' } });
    expect((await req('cancel', { id: running.id })).body).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });

    const wins = await createTask(agentId);
    const [w] = await claim(agentId);
    ok(await req('cancel', { id: wins.id }));
    expect(ok<Task>(await req('complete', { id: wins.id, leaseToken: w!.leaseToken, result: 1 }))).toMatchObject({ status: 'completed', result: 1 });

    const expiring = await createTask(agentId);
    await claim(agentId);
    ok(await req('cancel', { id: expiring.id }));
    await sql.query("UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = $1", [expiring.id]);
    expect(await waitFor(() => req('get', { id: expiring.id }).then((r) => ok<Task>(r).status), (s) => s === 'canceled')).toBe('canceled');

    const backoff = await createTask(agentId, { retry: { initialIntervalMs: 60_000, maximumIntervalMs: 60_000 } });
    const [b] = await claim(agentId);
    expect(ok<Task>(await req('fail', { id: backoff.id, leaseToken: b!.leaseToken, error: { message: 'later' } })).status).toBe('pending');
    expect(ok<Task>(await req('cancel', { id: backoff.id }))).toMatchObject({ status: 'canceled' });
    expect(await claim(agentId)).toEqual([]);
  });

  it('answers get with waitMs once the task ends', async () => {
    const agentId = await newAgent();
    const task = await createTask(agentId);
    const [c] = await claim(agentId);
    const waiting = req('get', { id: task.id, waitMs: 10_000 }, alice, 15_000).then((r) => ({ task: ok<Task>(r), at: Date.now() }));
    await new Promise((r) => setTimeout(r, 300));
    ok(await req('complete', { id: task.id, leaseToken: c!.leaseToken }));
    const doneAt = Date.now();
    const { task: seen, at } = await waiting;
    expect(seen.status).toBe('completed');
    expect(at - doneAt).toBeLessThan(WOKEN_WITHIN_MS);
  });

  it('long-polls the history: a page after the last event answers at the next transition; a finished task answers at once', async () => {
    const agentId = await newAgent();
    const task = await createTask(agentId);
    const page = (after: number, waitMs: number) =>
      req('list_events', { id: task.id, after, waitMs }, alice, waitMs + 5000).then((r) => ok<{ items: Array<{ seq: number; type: string }>; status: string }>(r));
    expect((await page(0, 0)).items.map((e) => e.type)).toEqual(['created']);
    const waiting = page(1, 10_000).then((p) => ({ p, at: Date.now() }));
    await new Promise((r) => setTimeout(r, 300));
    const [c] = await claim(agentId);
    const claimedAt = Date.now();
    const { p, at } = await waiting;
    expect(p).toMatchObject({ items: [{ seq: 2, type: 'claimed' }], status: 'running' });
    expect(at - claimedAt).toBeLessThan(WOKEN_WITHIN_MS);
    ok(await req('complete', { id: task.id, leaseToken: c!.leaseToken }));
    const t0 = Date.now();
    expect(await page(3, 10_000)).toMatchObject({ items: [], status: 'completed' });
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('a task deleted while a get or a history page waits on it answers NOT_FOUND at once, never its old row', async () => {
    const agentId = await newAgent();
    const task = await createTask(agentId);
    const answer = (r: RawReply) => ({ body: r.body, at: Date.now() });
    const get = req('get', { id: task.id, waitMs: 10_000 }, alice, 15_000).then(answer);
    const history = req('list_events', { id: task.id, after: 1, waitMs: 10_000 }, alice, 15_000).then(answer);
    await new Promise((r) => setTimeout(r, 300));
    expect(ok(await req('delete', { id: task.id }))).toBeNull();
    const deletedAt = Date.now();
    for (const { body, at } of await Promise.all([get, history])) {
      expect(body).toMatchObject({ ok: false, error: { code: 'NOT_FOUND', message: 'task not found' } });
      expect(at - deletedAt).toBeLessThan(WOKEN_WITHIN_MS);
    }
  });

  it('a long-poll never waits past its token: claim, get and history answer when the token stops being accepted', async () => {
    const agentId = await newAgent();
    const task = await createTask(agentId);
    const empty = await newAgent();
    const shortLived = await userToken('acme', 'alice', { expiresIn: 2 });
    const { exp } = JSON.parse(Buffer.from(shortLived.split('.')[1]!, 'base64url').toString('utf8')) as { exp: number };
    const validUntil = (exp + 5) * 1000; // the verifier's 5 s of clock tolerance
    const answer = (r: RawReply) => ({ body: r.body, at: Date.now() });
    const polls = await Promise.all([
      req('claim', { agentId: empty, workerId: 'w1', waitMs: 20_000 }, shortLived, 25_000).then(answer),
      req('get', { id: task.id, waitMs: 20_000 }, shortLived, 25_000).then(answer),
      req('list_events', { id: task.id, after: 1, waitMs: 20_000 }, shortLived, 25_000).then(answer),
    ]);
    expect(polls.map((p) => p.body)).toEqual([
      { ok: true, data: { items: [] } },
      { ok: true, data: expect.objectContaining({ id: task.id, status: 'pending' }) },
      { ok: true, data: { items: [], nextAfter: null, status: 'pending' } },
    ]);
    for (const { at } of polls) {
      expect(at).toBeGreaterThanOrEqual(validUntil - 50);
      expect(at - validUntil).toBeLessThan(WOKEN_WITHIN_MS);
    }
    // and the caller's next request with it is refused, so a client's poll loop does not spin
    expect((await req('get', { id: task.id, waitMs: 20_000 }, shortLived)).body).toMatchObject({ ok: false, error: { code: 'UNAUTHENTICATED' } });
  });

  it('a delete racing a complete: the deleted event always comes after every other event of the task, in seq and state', async () => {
    const agentId = await newAgent();
    const tasks = await Promise.all(Array.from({ length: 24 }, () => createTask(agentId)));
    const claimed = await claim(agentId, { max: 24 });
    expect(claimed).toHaveLength(24);
    // each task's complete and delete sent together: either may commit first
    await Promise.all(claimed.map((t) => Promise.all([req('complete', { id: t.id, leaseToken: t.leaseToken, result: { r: 1 } }), req('delete', { id: t.id })])));
    const rows = await sql.query(
      "SELECT payload FROM outbox WHERE subject = 'events.tasks.task_updated' AND payload->>'taskId' = ANY($1) ORDER BY payload->>'taskId', (payload->>'seq')::int",
      [tasks.map((t) => t.id)],
    );
    const byTask = new Map<string, Array<{ seq: number; type: string; status: string }>>();
    for (const { payload } of rows.rows) byTask.set(payload.taskId, [...(byTask.get(payload.taskId) ?? []), payload]);
    for (const t of tasks) {
      const events = byTask.get(t.id)!;
      const last = events.at(-1)!;
      expect({ id: t.id, last: last.type }).toEqual({ id: t.id, last: 'deleted' });
      // seqs strictly increase: the deleted event's is past the complete's when the complete committed first
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      const completed = events.some((e) => e.type === 'completed');
      expect({ id: t.id, status: last.status }).toEqual({ id: t.id, status: completed ? 'completed' : 'running' });
    }
  });

  it('deleting a running task frees its slot on a capped agent: a claim the cap kept waiting takes the next task at once', async () => {
    const agentId = await newAgent({ maxConcurrency: 1 });
    const first = await createTask(agentId);
    expect((await claim(agentId)).map((t) => t.id)).toEqual([first.id]);
    const second = await createTask(agentId);
    const waiting = claim(agentId, { waitMs: 10_000 }, 15_000).then((items) => ({ items, at: Date.now() }));
    await new Promise((r) => setTimeout(r, 300));
    expect(ok(await req('delete', { id: first.id }))).toBeNull();
    const deletedAt = Date.now();
    const { items, at } = await waiting;
    expect(items.map((t) => t.id)).toEqual([second.id]);
    expect(at - deletedAt).toBeLessThan(WOKEN_WITHIN_MS);
  });

  it('a delete writes the task its last task_updated event, `deleted`: the next seq, who, and the state it went in', async () => {
    const agentId = await newAgent();
    const task = await createTask(agentId);
    const [c] = await claim(agentId);
    ok(await req('heartbeat', { id: task.id, leaseToken: c!.leaseToken, progress: { step: 1 } }));
    const before = new Date().toISOString();
    expect(ok(await req('delete', { name: task.name }))).toBeNull();
    const outbox = await sql.query("SELECT payload FROM outbox WHERE subject = 'events.tasks.task_updated' AND payload->>'taskId' = $1 ORDER BY (payload->>'seq')::int", [task.id]);
    expect(outbox.rows.map((r) => [r.payload.seq, r.payload.type])).toEqual([[1, 'created'], [2, 'claimed'], [3, 'progress'], [4, 'deleted']]);
    const last = outbox.rows.at(-1)!.payload;
    expect(tasksEvents.taskUpdated.payload.parse(last)).toEqual(last);
    expect(last).toMatchObject({ taskId: task.id, tenantId: 'acme', agentId, status: 'running', attempt: 1, data: { by: 'user:alice' } });
    expect(last.at >= before.slice(0, 23)).toBe(true);
    // the history went with the row, and the delete wrote nothing when there was nothing to delete
    expect((await sql.query('SELECT count(*)::int AS n FROM task_events WHERE task_id = $1', [task.id])).rows[0].n).toBe(0);
    expect((await req('delete', { id: task.id })).body).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    const after = await sql.query("SELECT count(*)::int AS n FROM outbox WHERE payload->>'taskId' = $1 AND payload->>'type' = 'deleted'", [task.id]);
    expect(after.rows[0].n).toBe(1);
  });

  it('counts attempt outcomes, sweeps and claim latency in /metrics', async () => {
    const text = await fetchMetrics(svc.url);
    expect(metricValue(text, 'tasks_attempts_total', { outcome: 'completed' })).toBeGreaterThan(0);
    expect(metricValue(text, 'tasks_attempts_total', { outcome: 'retried' })).toBeGreaterThan(0);
    expect(metricValue(text, 'tasks_attempts_total', { outcome: 'failed' })).toBeGreaterThan(0);
    expect(metricValue(text, 'tasks_attempts_total', { outcome: 'canceled' })).toBeGreaterThan(0);
    expect(metricValue(text, 'tasks_lease_expiries_total', { reason: 'lease_expired' })).toBeGreaterThan(0);
    expect(metricValue(text, 'tasks_lease_expiries_total', { reason: 'timed_out' })).toBeGreaterThan(0);
    expect(metricValue(text, 'tasks_claim_latency_seconds_count')).toBeGreaterThan(200);
    // the 200 bulk tasks are still running on their agent
    const bulk = (await sql.query("SELECT agent_id FROM tasks WHERE name = 'bulk-1'")).rows[0].agent_id;
    expect(metricValue(text, 'tasks_queue_depth', { agent_id: bulk, status: 'running' })).toBe(200);
  });

  it('validates the new fields, naming the field; result and progress have size limits', async () => {
    const agentId = await newAgent();
    const bad = async (subject: string, body: object, path: string) =>
      expect((await req(subject, body)).body).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path }] } } });
    await bad('create', { agentId, name: 'v1', maxAttempts: 0 }, 'maxAttempts');
    await bad('create', { agentId, name: 'v2', heartbeatTimeoutSeconds: 4 }, 'heartbeatTimeoutSeconds');
    await bad('create', { agentId, name: 'v3', timeoutSeconds: 86_401 }, 'timeoutSeconds');
    await bad('create', { agentId, name: 'v4', priority: 1.5 }, 'priority');
    await bad('create', { agentId, name: 'v5', runAfter: 'tomorrow' }, 'runAfter');
    await bad('create', { agentId, name: 'v6', retry: { backoffCoefficient: 0.5 } }, 'retry.backoffCoefficient');
    await bad('claim', { agentId, workerId: 'w', max: 101 }, 'max');
    await bad('claim', { agentId, workerId: 'w', waitMs: 30_001 }, 'waitMs');
    const task = await createTask(agentId);
    const [c] = await claim(agentId);
    const big = 'x'.repeat(TASK_LIMITS.resultBytes);
    await bad('complete', { id: task.id, leaseToken: c!.leaseToken, result: big }, 'result');
    await bad('heartbeat', { id: task.id, leaseToken: c!.leaseToken, progress: 'y'.repeat(TASK_LIMITS.progressBytes) }, 'progress');
    await bad('fail', { id: task.id, leaseToken: c!.leaseToken, error: { message: 'm', details: { d: 'z'.repeat(TASK_LIMITS.errorBytes) } } }, 'error');
    await bad('heartbeat', { id: task.id, leaseToken: 'nope' }, 'leaseToken');
    // just under the limit is fine
    ok(await req('complete', { id: task.id, leaseToken: c!.leaseToken, result: 'x'.repeat(TASK_LIMITS.resultBytes - 2) }));
  });

  it('is NOT_FOUND (not FORBIDDEN) for another tenant, on every worker call', async () => {
    const agentId = await newAgent();
    const task = await createTask(agentId);
    const [c] = await claim(agentId);
    const globex = await userToken('globex', 'alice');
    for (const [subject, body] of [
      ['claim', { agentId, workerId: 'w' }],
      ['heartbeat', { id: task.id, leaseToken: c!.leaseToken }],
      ['complete', { id: task.id, leaseToken: c!.leaseToken }],
      ['fail', { id: task.id, leaseToken: c!.leaseToken, error: { message: 'm' } }],
      ['list_events', { id: task.id }],
      ['agent_stats', { id: agentId }],
      ['get', { id: task.id, waitMs: 100 }],
    ] as const) {
      expect((await req(subject, body, globex)).body).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    }
    // nothing changed
    expect(ok<Task>(await req('get', { id: task.id }))).toMatchObject({ status: 'running', attempt: 1 });
  });

  it('claims the next tasks of the agent with a complete that asks for them (`next`), within maxConcurrency', async () => {
    const agentId = await newAgent({ maxConcurrency: 2 });
    const [a, b, c] = [await createTask(agentId), await createTask(agentId), await createTask(agentId)];
    const [ca] = await claim(agentId);
    expect(ca!.id).toBe(a.id);
    const done = ok<Task & { next: ClaimedTask[] }>(await req('complete', { id: a.id, leaseToken: ca!.leaseToken, result: { r: 1 }, next: { workerId: 'w2', max: 5 } }));
    expect(done).toMatchObject({ id: a.id, status: 'completed', result: { r: 1 } });
    // a's slot is free again: two of the cap of two
    expect(done.next.map((t) => [t.id, t.status, t.workerId, t.attempt])).toEqual([[b.id, 'running', 'w2', 1], [c.id, 'running', 'w2', 1]]);
    expect((await events(b.id)).map((e) => e.type)).toEqual(['created', 'claimed']);
    // their leases are live: complete one, and with nothing left to claim `next` is empty
    const last = ok<Task & { next: ClaimedTask[] }>(await req('complete', { id: b.id, leaseToken: done.next[0]!.leaseToken, next: { workerId: 'w2', max: 1 } }));
    expect(last).toMatchObject({ status: 'completed', next: [] });
    // without `next`, the reply is the task alone
    expect(ok<Task>(await req('complete', { id: c.id, leaseToken: done.next[1]!.leaseToken }))).not.toHaveProperty('next');
    expect((await req('complete', { id: c.id, leaseToken: done.next[1]!.leaseToken, next: { workerId: 'w2', max: 0 } })).body).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION', details: { issues: [{ path: 'next.max' }] } },
    });
  });

  it("finds a task by id through the primary key, whatever plan a table without statistics gives the tenant's index", async () => {
    // a new, never analysed copy of tasks with all its indexes, in this session only (pg_temp comes first)
    await sql.query('CREATE TEMP TABLE tasks (LIKE public.tasks INCLUDING ALL)');
    try {
      await sql.query("SET plan_cache_mode = 'force_generic_plan'");
      const id = `'${newId()}'`;
      for (const [name, text, args] of [
        ['find_by_id', FIND_BY_ID, `${id}, 'acme'`],
        ['lock_by_id', LOCK_BY_ID, `${id}, 'acme'`],
        ['delete_by_id', DELETE_BY_ID, `${id}, 'acme', ${id}, 'events.tasks.task_updated', '{}', '{}'`],
        ['complete_fused', COMPLETE_FUSED, `${id}, 'acme', ${id}, '{}', '{}', ${id}, 'events.tasks.task_updated', '{}', '{}'`],
      ] as const) {
        await sql.query(`PREPARE ${name} AS ${text}`);
        const plan = JSON.stringify((await sql.query(`EXPLAIN (FORMAT JSON) EXECUTE ${name}(${args})`)).rows[0]['QUERY PLAN']);
        await sql.query(`DEALLOCATE ${name}`);
        // the indexes of the copy are all named tasks_…; the plan may use other tables' indexes besides
        const used = [...plan.matchAll(/"Index Name":"(tasks_[^"]+)"/g)].map((m) => m[1]);
        expect([name, used]).toEqual([name, ['tasks_pkey']]);
      }
    } finally {
      await sql.query('RESET plan_cache_mode');
      await sql.query('DROP TABLE pg_temp.tasks');
    }
  });

  /**
   * A task's `created` history entry is kept on its row (created_event_at, created_run_after), not as a task_events row
   * (issue 19): the history and the event still say what they said.
   */
  describe("the history's created entry, kept on the task's row", () => {
    const history = async (id: string, after: number) =>
      ok<{ items: Array<{ seq: number; type: string; at: string; data: Record<string, unknown> }> }>(await req('list_events', { id, after })).items;

    it('keeps the runAfter the task was created with after a retry moves it, and numbers the next transitions from 2', async () => {
      const agentId = await newAgent();
      const runAfter = new Date(Date.now() - 60_000).toISOString();
      const task = await createTask(agentId, { priority: 7, runAfter, retry: { initialIntervalMs: 100, backoffCoefficient: 1, maximumIntervalMs: 100 } });
      const [first] = await claim(agentId);
      const retried = ok<Task>(await req('fail', { id: task.id, leaseToken: first!.leaseToken, error: { message: 'flaky' } }));
      expect(retried.runAfter).not.toBe(runAfter);
      const all = await history(task.id, 0);
      expect(all.map((e) => [e.seq, e.type])).toEqual([[1, 'created'], [2, 'claimed'], [3, 'retry_scheduled']]);
      expect(all[0]!.data).toEqual({ priority: 7, runAfter });
      expect(Date.parse(all[0]!.at)).toBeLessThanOrEqual(Date.parse(all[1]!.at));
      // a page after the created entry does not repeat it
      expect((await history(task.id, 1)).map((e) => e.seq)).toEqual([2, 3]);
      // what the created event published is that entry
      const published = await sql.query("SELECT payload FROM outbox WHERE payload->>'taskId' = $1 AND payload->>'type' = 'created'", [task.id]);
      expect(published.rows.map((r) => r.payload)).toEqual([expect.objectContaining({ seq: 1, at: all[0]!.at, data: all[0]!.data })]);
      expect((await sql.query('SELECT min(seq)::int AS min FROM task_events WHERE task_id = $1', [task.id])).rows[0].min).toBe(2);
    });

    it('serves a task created before the entry moved (its seq 1 in task_events) once, and goes on from it', async () => {
      const agentId = await newAgent();
      const task = await createTask(agentId);
      // as such a task was written: the columns NULL, the entry a task_events row
      await sql.query(
        `WITH t AS (UPDATE tasks SET created_event_at = NULL, created_run_after = NULL WHERE id = $1 RETURNING id, priority, run_after)
         INSERT INTO task_events (task_id, seq, type, at, data)
         SELECT id, 1, 'created', now(), jsonb_build_object('priority', priority, 'runAfter', 'stored') FROM t`,
        [task.id],
      );
      const [claimed] = await claim(agentId);
      expect(claimed).toMatchObject({ id: task.id });
      const all = await history(task.id, 0);
      expect(all.map((e) => [e.seq, e.type, e.data.runAfter])).toEqual([[1, 'created', 'stored'], [2, 'claimed', undefined]]);
    });

    it('refuses a seq 1 that is not a created entry (an instance still numbering from 0 fails instead of writing two)', async () => {
      const agentId = await newAgent();
      const task = await createTask(agentId);
      await expect(sql.query("INSERT INTO task_events (task_id, seq, type, at, data) VALUES ($1, 1, 'claimed', now(), '{}')", [task.id])).rejects.toMatchObject({
        code: '23514',
        constraint: 'ck_task_events_seq1_created',
      });
    });
  });

  /**
   * Claim and complete are each one statement outside a transaction; one that finds the task's history grown by
   * another transition that committed while it waited (its next seq taken) fails whole and is redone in a transaction.
   * The other transition is played by a transaction that appends the task's next event and commits only once the call
   * is seen waiting on it.
   */
  describe('a claim or complete whose task history moved meanwhile', () => {
    const waitingOnLock = async () =>
      waitFor(
        async () => (await sql.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")).rows[0].n as number,
        (n) => n > 0,
      );
    const appendingNext = async (taskId: string, seq: number) => {
      const other = new pg.Client({ connectionString: h.db.url });
      await other.connect();
      await other.query('BEGIN');
      await other.query("INSERT INTO task_events (task_id, seq, type, at, data) VALUES ($1, $2, 'progress', now(), '{}')", [taskId, seq]);
      return {
        commit: async () => {
          await other.query('COMMIT');
          await other.end();
        },
      };
    };

    it('claims in a transaction after all', async () => {
      const agentId = await newAgent();
      const task = await createTask(agentId);
      const other = await appendingNext(task.id, 2);
      const claiming = claim(agentId);
      expect(await waitingOnLock()).toBeGreaterThan(0);
      await other.commit();
      const [claimed] = await claiming;
      expect(claimed).toMatchObject({ id: task.id, status: 'running', attempt: 1 });
      expect((await events(task.id)).map((e) => [e.seq, e.type])).toEqual([[1, 'created'], [2, 'progress'], [3, 'claimed']]);
      const published = await sql.query("SELECT count(*)::int AS n FROM outbox WHERE payload->>'taskId' = $1 AND payload->>'type' = 'claimed'", [task.id]);
      expect(published.rows[0].n).toBe(1);
    });

    it('completes in a transaction after all', async () => {
      const agentId = await newAgent();
      const task = await createTask(agentId);
      const [claimed] = await claim(agentId);
      const other = await appendingNext(task.id, 3);
      const completing = req('complete', { id: task.id, leaseToken: claimed!.leaseToken, result: { r: 1 } });
      expect(await waitingOnLock()).toBeGreaterThan(0);
      await other.commit();
      expect(ok<Task>(await completing)).toMatchObject({ status: 'completed', result: { r: 1 } });
      expect((await events(task.id)).map((e) => [e.seq, e.type])).toEqual([[1, 'created'], [2, 'claimed'], [3, 'progress'], [4, 'completed']]);
      const published = await sql.query("SELECT count(*)::int AS n FROM outbox WHERE payload->>'taskId' = $1 AND payload->>'type' = 'completed'", [task.id]);
      expect(published.rows[0].n).toBe(1);
      // its end is the database's time of the transaction, as its event's
      const s = await stamps(task.id);
      expect(s.finished_at).toEqual(s.at.completed);
    });
  });

  /** A task's times, and the time of each of its events by type (task_events: its last of each type), as Dates. */
  const stamps = async (id: string) => {
    const t = (await sql.query('SELECT started_at, finished_at, cancel_requested_at, run_after FROM tasks WHERE id = $1', [id])).rows[0];
    const ev = (await sql.query('SELECT type, at FROM task_events WHERE task_id = $1 ORDER BY seq', [id])).rows as Array<{ type: string; at: Date }>;
    return { ...t, at: Object.fromEntries(ev.map((e) => [e.type, e.at])) } as {
      started_at: Date | null;
      finished_at: Date | null;
      cancel_requested_at: Date | null;
      run_after: Date;
      at: Record<string, Date>;
    };
  };

  it("stamps what a transition records with the database's clock, not with that of an instance an hour behind", async () => {
    const dbNow = async () => (await sql.query('SELECT clock_timestamp() AS t')).rows[0].t as Date;
    const before = await dbNow();
    const ids: Record<string, string> = {};
    // this process is the instance: Date an hour behind (and moving), everything else real
    await withClockOffset(-3_600_000, async () => {
      const agentId = await newAgent();
      const done = await createTask(agentId);
      const [d] = await claim(agentId);
      expect(ok<Task>(await req('complete', { id: done.id, leaseToken: d!.leaseToken })).status).toBe('completed');
      ids.done = done.id;

      // a retry up to a minute after the failure (full jitter): an hour behind, it was due at once and claimed again
      const retried = await createTask(agentId, { retry: { initialIntervalMs: 60_000, maximumIntervalMs: 60_000 } });
      const [r] = await claim(agentId);
      expect(ok<Task>(await req('fail', { id: retried.id, leaseToken: r!.leaseToken, error: { message: 'later' } })).status).toBe('pending');
      const [scheduled] = (await events(retried.id)).filter((e) => e.type === 'retry_scheduled');
      if ((scheduled!.data.delayMs as number) > 1_000) expect(await claim(agentId)).toEqual([]);
      ids.retried = retried.id;

      const canceled = await createTask(agentId, { priority: 1 });
      const [c] = await claim(agentId);
      expect(c!.id).toBe(canceled.id);
      expect(ok<Task>(await req('cancel', { id: canceled.id })).cancelRequested).toBe(true);
      expect(ok<Task>(await req('fail', { id: canceled.id, leaseToken: c!.leaseToken, error: { message: 'stopping' } })).status).toBe('canceled');
      ids.canceled = canceled.id;

      const pending = await createTask(agentId, { priority: -1 });
      expect(ok<Task>(await req('cancel', { id: pending.id })).status).toBe('canceled');
      ids.pending = pending.id;

      // the sweeper's verdict too: the deadline passed by the database's clock (an hour behind, it was not yet due)
      const slow = await createTask(agentId, { maxAttempts: 1, priority: 1 });
      const [sl] = await claim(agentId);
      expect(sl!.id).toBe(slow.id);
      await sql.query("UPDATE tasks SET deadline_at = now() - interval '1 second' WHERE id = $1", [slow.id]);
      const failed = await waitFor(() => req('get', { id: slow.id }).then((x) => ok<Task>(x)), (t) => t.status === 'failed');
      expect(failed).toMatchObject({ status: 'failed', error: { type: 'timed_out' } });
      ids.slow = slow.id;
    });
    const after = await dbNow();
    const within = (d: Date | null | undefined) => [d !== null && d !== undefined && d >= before && d <= after, d];

    const done = await stamps(ids.done!);
    expect([done.finished_at, within(done.finished_at), done.finished_at! >= done.started_at!]).toEqual([done.at.completed, [true, done.finished_at], true]);

    const retried = await stamps(ids.retried!);
    const [scheduled] = (await events(ids.retried!)).filter((e) => e.type === 'retry_scheduled');
    const { delayMs } = scheduled!.data as { delayMs: number };
    expect([retried.run_after.getTime() - retried.at.retry_scheduled!.getTime(), delayMs <= 60_000]).toEqual([delayMs, true]);
    expect([within(retried.at.retry_scheduled), scheduled!.data.runAfter]).toEqual([[true, retried.at.retry_scheduled], retried.run_after.toISOString()]);

    const canceled = await stamps(ids.canceled!);
    expect([canceled.cancel_requested_at, within(canceled.cancel_requested_at)]).toEqual([canceled.at.cancel_requested, [true, canceled.cancel_requested_at]]);
    expect(canceled.finished_at).toEqual(canceled.at.canceled);

    const pending = await stamps(ids.pending!);
    expect([pending.finished_at, within(pending.finished_at)]).toEqual([pending.at.canceled, [true, pending.finished_at]]);

    const slow = await stamps(ids.slow!);
    expect([slow.finished_at, within(slow.finished_at)]).toEqual([slow.at.failed, [true, slow.finished_at]]);
    expect(Object.keys(slow.at)).toEqual(['claimed', 'timed_out', 'failed']);
  });
});
