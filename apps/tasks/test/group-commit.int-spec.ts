import pg from 'pg';
import { NatsCaller, testPrefix, userToken, type RunningService } from '@agentplane/testing';
import { isDomainError, newId, type Principal } from '@agentplane/domain';
import { Idempotency, lockKeyOf, scopeKey } from '@agentplane/idempotency';
import { fetchMetrics, metricValue } from '@agentplane/observability';
import type { Task } from '@agentplane/contracts';
import { CreateTask } from '../src/tasks/create-task.js';
import { TasksRepository } from '../src/tasks/tasks.repository.js';
import { TASK_CREATED_CODEC, type NewTaskRow } from '../src/tasks/task.js';
import { startTasksHarness, type TasksHarness } from './setup.js';

/**
 * Group commit of creates (issue 19, TasksRepository.create): the creates that reach the repository in one event-loop
 * turn are written by one statement, each answered from its own row; a group the server refuses is made one by one,
 * so one request's error stays its own; keys gate their own rows only. "One statement" is read off the rows: rows
 * written by one transaction share their xmin.
 */
describe('tasks: creates of one turn commit together', () => {
  let h: TasksHarness;
  let svc: RunningService;
  let caller: NatsCaller;
  let sql: pg.Client;
  const prefix = testPrefix('tasks-group');
  const alice: Principal = { kind: 'user', tenantId: 'acme', userId: 'alice', roles: [], scopes: [], issuer: 'agentplane' };
  let agentId: string;
  let createTask: CreateTask;
  let idempotency: Idempotency;

  beforeAll(async () => {
    ({ svc, caller, sql } = h = await startTasksHarness(prefix));
    const agent = await caller.request('tasks.v1.create_agent', { name: 'runner' }, { token: await userToken('acme', 'alice') });
    agentId = (agent.body.data as { id: string }).id;
    createTask = svc.app.get(CreateTask);
    idempotency = svc.app.get(Idempotency);
    // the agent is known to the service from here on: the creates below reach the repository in the turn they start
    await createTask.execute(alice, { agentId, name: 'warm-up' });
  });

  afterAll(() => h?.close());

  const transactionsOf = async (names: string[]) =>
    (await sql.query<{ n: number }>('SELECT count(DISTINCT xmin::text)::int AS n FROM tasks WHERE name = ANY($1)', [names])).rows[0]!.n;
  const settle = <T>(ps: Promise<T>[]) => Promise.allSettled(ps);
  const codeOf = (r: PromiseSettledResult<unknown>) => (r.status === 'rejected' && isDomainError(r.reason) ? r.reason.code : r.status);

  /** tasks_create_statement_creates: how many create statements were sent, and how many creates they carried. */
  const statementSizes = async () => {
    const text = await fetchMetrics(svc.url);
    return {
      statements: metricValue(text, 'tasks_create_statement_creates_count'),
      creates: metricValue(text, 'tasks_create_statement_creates_sum'),
    };
  };

  it('writes the creates of one turn in one transaction, each with its own row, event and outbox row', async () => {
    const names = ['g1-a', 'g1-b', 'g1-c', 'g1-d', 'g1-e', 'g1-f'];
    const before = await statementSizes();
    const tasks = await Promise.all(names.map((name, i) => createTask.execute(alice, { agentId, name, params: { i }, priority: i })));
    expect(await transactionsOf(names)).toBe(1);
    // and the metric says so: one statement more, carrying six creates
    const after = await statementSizes();
    expect({ statements: after.statements - before.statements, creates: after.creates - before.creates }).toEqual({ statements: 1, creates: 6 });
    for (const [i, task] of tasks.entries()) {
      expect(task).toMatchObject({ name: names[i], params: { i }, priority: i, status: 'pending', creatorUserId: 'alice' });
      // each answer is its own row as the database reads it back
      const got = await caller.request('tasks.v1.get', { id: task.id }, { token: await userToken('acme', 'alice') });
      expect(got.body.data).toEqual(task);
    }
    const ids = tasks.map((t) => t.id);
    // each task's history is its `created` entry, kept on its own row (no task_events row)
    const repo = svc.app.get(TasksRepository);
    for (const [i, task] of tasks.entries()) {
      expect(await repo.events(task.id, 0, 10)).toEqual([
        { taskId: task.id, seq: 1, type: 'created', at: expect.any(Date), data: { priority: i, runAfter: task.runAfter } },
      ]);
    }
    expect((await sql.query('SELECT count(*)::int AS n FROM task_events WHERE task_id = ANY($1::uuid[])', [ids])).rows[0].n).toBe(0);
    const outbox = await sql.query<{ subject: string; key: string }>(
      `SELECT subject, coalesce(payload->>'taskId', payload->>'resource') AS key FROM outbox_messages
        WHERE payload->>'taskId' = ANY($1) OR payload->>'resource' = ANY($2) ORDER BY 2, 1`,
      [ids, ids.map((id) => `task:${id}`)],
    );
    expect(outbox.rows).toEqual(
      [
        ...ids.map((id) => ({ subject: 'events.tasks.task_updated', key: id })),
        ...ids.map((id) => ({ subject: 'events.tasks.resource_registered', key: `task:${id}` })),
      ].sort((a, b) => (a.key + a.subject < b.key + b.subject ? -1 : 1)),
    );
    // one outbox row per task: its task_updated event, with its registration in `more`, under an id of its own
    const stored = await sql.query<{ subject: string; more: Array<{ id: string; subject: string; payload: { resource: string } }> }>(
      "SELECT subject, more FROM outbox WHERE payload->>'taskId' = ANY($1)",
      [ids],
    );
    expect(stored.rows).toHaveLength(ids.length);
    for (const r of stored.rows) {
      expect(r.subject).toBe('events.tasks.task_updated');
      expect(r.more).toEqual([{ id: expect.stringMatching(/^[0-9a-f-]{36}$/), subject: 'events.tasks.resource_registered', payload: expect.objectContaining({ tenant: 'acme' }), headers: expect.any(Object) }]);
    }
    expect(stored.rows.map((r) => r.more[0]!.payload.resource).sort()).toEqual(ids.map((id) => `task:${id}`).sort());
    const payload = await sql.query("SELECT payload FROM outbox WHERE payload->>'taskId' = $1", [ids[2]]);
    expect(payload.rows[0].payload).toMatchObject({ taskId: ids[2], agentId, seq: 1, type: 'created', status: 'pending', attempt: 0, data: { priority: 2 } });
    // the event says what the history says: the same time and data
    const [created] = await repo.events(ids[2]!, 0, 1);
    expect(payload.rows[0].payload).toMatchObject({ at: created!.at.toISOString(), data: created!.data });
  });

  it("keeps each create's own event headers", async () => {
    const repo = svc.app.get(TasksRepository);
    const row = (name: string): NewTaskRow => {
      const now = new Date();
      return {
        id: newId(), tenantId: 'acme', agentId, name, params: {}, creatorUserId: 'alice', creatorServiceAccountId: null, priority: 0, maxAttempts: 3,
        runAfter: now, heartbeatTimeoutSeconds: 60, timeoutSeconds: 3600, retryInitialIntervalMs: 1000, retryBackoffCoefficient: 2, retryMaximumIntervalMs: 60000, createdAt: now,
      };
    };
    const rows = ['h-1', 'h-2', 'h-3'].map(row);
    await Promise.all(rows.map((r, i) => repo.create(r, [], { 'x-request-id': `req-${i}` })));
    expect(await transactionsOf(['h-1', 'h-2', 'h-3'])).toBe(1);
    const headers = await sql.query("SELECT payload->>'taskId' AS id, headers FROM outbox WHERE payload->>'taskId' = ANY($1)", [rows.map((r) => r.id)]);
    expect(Object.fromEntries(headers.rows.map((h: { id: string; headers: unknown }) => [h.id, h.headers]))).toEqual(
      Object.fromEntries(rows.map((r, i) => [r.id, { 'x-request-id': `req-${i}` }])),
    );
  });

  it("makes a refused group one create at a time: a duplicate name is that create's CONFLICT alone", async () => {
    await createTask.execute(alice, { agentId, name: 'taken' });
    const count = async () => (await sql.query('SELECT (SELECT count(*) FROM outbox)::int AS rows, (SELECT count(*) FROM outbox_messages)::int AS messages')).rows[0];
    const before = await count();
    const results = await settle(['g2-a', 'taken', 'g2-b', 'g2-b', 'g2-c'].map((name) => createTask.execute(alice, { agentId, name })));
    const codes = results.map(codeOf);
    expect([codes[0], codes[1], codes[4]]).toEqual(['fulfilled', 'CONFLICT', 'fulfilled']);
    // the two with one name: made one by one side by side, either may be first
    expect([codes[2], codes[3]].sort()).toEqual(['CONFLICT', 'fulfilled']);
    const rows = await sql.query("SELECT name, count(*)::int AS n FROM tasks WHERE name IN ('g2-a', 'taken', 'g2-b', 'g2-c') GROUP BY name ORDER BY name");
    expect(rows.rows).toEqual([
      { name: 'g2-a', n: 1 },
      { name: 'g2-b', n: 1 },
      { name: 'g2-c', n: 1 },
      { name: 'taken', n: 1 },
    ]);
    // one outbox row with two messages for each of the three created, none for the refused
    expect(await count()).toEqual({ rows: before.rows + 3, messages: before.messages + 6 });
    const made = results.filter((r): r is PromiseFulfilledResult<Task> => r.status === 'fulfilled').map((r) => r.value.id);
    // each of the three has its history's `created` entry
    const repo = svc.app.get(TasksRepository);
    expect(made).toHaveLength(3);
    for (const id of made) expect((await repo.events(id, 0, 10)).map((e) => [e.seq, e.type])).toEqual([[1, 'created']]);
  });

  it('gates each keyed create by its own key: a busy lock, a stored response, an expired row, the same key twice', async () => {
    const input = (name: string) => ({ agentId, name });
    const keyed = (key: string, name: string) =>
      idempotency.handle({ principal: alice, key, subject: 'tasks.v1.create', payload: input(name) }, async () => ({ data: await createTask.execute(alice, input(name)) }), 'transaction');
    const scope = scopeKey('acme', 'user:alice');

    const done = await keyed('k-done', 'g3-done');
    await sql.query(
      `INSERT INTO idempotency_keys (scope_key, key, payload_hash, status, claim_id, response, created_at, expires_at)
       VALUES ($1, 'k-expired', 'old', 'completed', gen_random_uuid(), '{"data":null}', now() - interval '2 days', now() - interval '1 day')`,
      [scope],
    );
    const holder = new pg.Client({ connectionString: h.db.url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKeyOf(scope, 'k-held').toString()]);
    let results: PromiseSettledResult<Awaited<ReturnType<typeof keyed>>>[];
    // which keys' rows are read again after the statement (a replay is answered from the row the statement read)
    const readAgain: string[] = [];
    const find = idempotency.store.find.bind(idempotency.store);
    idempotency.store.find = (k, db) => (readAgain.push((k as { key: string }).key), find(k, db));
    try {
      results = await settle([
        keyed('k-1', 'g3-1'),
        keyed('k-2', 'g3-2'),
        keyed('k-held', 'g3-held'),
        keyed('k-done', 'g3-done'),
        keyed('k-expired', 'g3-expired'),
        keyed('k-3', 'g3-3'),
        keyed('k-1', 'g3-1'),
      ]);
    } finally {
      idempotency.store.find = find;
      await holder.query('ROLLBACK');
      await holder.end();
    }
    // the stored response is answered from the row the statement read; the busy key's and the second k-1's are read after
    expect(readAgain.sort()).toEqual(['k-1', 'k-held']);
    const [one, two, held, replay, expired, three, again] = results;
    for (const r of [two, expired, three]) expect(r).toMatchObject({ status: 'fulfilled', value: { replayed: false } });
    expect(codeOf(held!)).toBe('IDEMPOTENCY_IN_PROGRESS');
    expect(replay).toMatchObject({ status: 'fulfilled', value: { replayed: true, response: done.response } });
    // the same key twice in one turn, in one statement: the first writes, the second finds its row once it has
    // committed (a replay of the first's response), as if it had come just after it
    expect(one).toMatchObject({ status: 'fulfilled', value: { replayed: false } });
    const first = (one as PromiseFulfilledResult<{ response: { data: Task } }>).value.response;
    expect(again).toEqual({ status: 'fulfilled', value: { replayed: true, response: first } });

    // the four that wrote did so in one statement, and nothing was written for the held key
    expect(await transactionsOf(['g3-1', 'g3-2', 'g3-expired', 'g3-3'])).toBe(1);
    const names = await sql.query("SELECT name FROM tasks WHERE name LIKE 'g3-%' ORDER BY name");
    expect(names.rows.map((r: { name: string }) => r.name)).toEqual(['g3-1', 'g3-2', 'g3-3', 'g3-done', 'g3-expired']);
    // each key stores its create's task packed (TASK_CREATED_CODEC), the expired row taken over
    const keys = await sql.query(
      "SELECT key, status, response->>'packed' AS codec, response->'value'->>3 AS name FROM idempotency_keys WHERE key LIKE 'k-%' ORDER BY key",
    );
    const codec = TASK_CREATED_CODEC.name;
    expect(keys.rows).toEqual([
      { key: 'k-1', status: 'completed', codec, name: 'g3-1' },
      { key: 'k-2', status: 'completed', codec, name: 'g3-2' },
      { key: 'k-3', status: 'completed', codec, name: 'g3-3' },
      { key: 'k-done', status: 'completed', codec, name: 'g3-done' },
      { key: 'k-expired', status: 'completed', codec, name: 'g3-expired' },
    ]);
    // each stored response, unpacked, is its own task as answered
    for (const r of [one, two, expired, three]) {
      const task = (r as PromiseFulfilledResult<{ response: { data: Task } }>).value.response.data;
      const stored = await sql.query("SELECT response FROM idempotency_keys WHERE response->'value'->>0 = $1", [task.id]);
      expect(stored.rows).toEqual([{ response: { packed: codec, value: expect.any(Array) } }]);
      expect(TASK_CREATED_CODEC.unpack(stored.rows[0].response.value)).toEqual(task);
    }
  });
});
