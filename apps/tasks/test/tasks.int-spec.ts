import pg from 'pg';
import { NatsCaller, serviceAccountToken, testPrefix, userToken, type RunningService } from '@agentplane/testing';
import { systemPrincipal } from '@agentplane/domain';
import { lockKeyOf, scopeKey } from '@agentplane/idempotency';
import { CreateTask } from '../src/tasks/create-task.js';
import { startTasksHarness, type TasksHarness } from './setup.js';

/**
 * The tasks service alone (no authz proxy running): everything here is decided by the row itself — the creator is
 * the owner — or fails before authz is asked. Authz-dependent paths are in tools/test/e2e/tasks.e2e-spec.ts.
 */
describe('tasks service', () => {
  let h: TasksHarness;
  let svc: RunningService;
  let caller: NatsCaller;
  let sql: pg.Client;
  const prefix = testPrefix('tasks');
  let alice: string;
  let agentId: string;

  beforeAll(async () => {
    ({ svc, caller, sql } = h = await startTasksHarness(prefix));
    alice = await userToken('acme', 'alice');
    const agent = await caller.request('tasks.v1.create_agent', { name: 'runner' }, { token: alice });
    agentId = (agent.body.data as { id: string }).id;
  });

  afterAll(() => h?.close());

  const create = (name: string, token: string, extra: object = {}) => caller.request('tasks.v1.create', { agentId, name, ...extra }, { token });

  it('fills the creator from the principal: a user, a service account, the system principal', async () => {
    const byUser = await create('by-user', alice);
    expect(byUser.body).toMatchObject({ ok: true, data: { creatorUserId: 'alice', creatorServiceAccountId: null, status: 'pending', params: {} } });

    // the service account owns its own agent (the creator of an agent may write to it)
    const bot = await serviceAccountToken('acme', 'ci-bot');
    const botAgent = await caller.request('tasks.v1.create_agent', { name: 'bot-agent' }, { token: bot });
    const bySa = await caller.request('tasks.v1.create', { agentId: (botAgent.body.data as { id: string }).id, name: 'by-sa', params: { n: 1 } }, { token: bot });
    expect(bySa.body).toMatchObject({ ok: true, data: { creatorUserId: null, creatorServiceAccountId: 'ci-bot', params: { n: 1 } } });

    const bySystem = await svc.app.get(CreateTask).execute(systemPrincipal('acme'), { agentId, name: 'by-system' });
    expect(bySystem).toMatchObject({ creatorUserId: null, creatorServiceAccountId: null });

    const rows = await sql.query('SELECT name, creator_user_id, creator_service_account_id FROM tasks ORDER BY name');
    expect(rows.rows).toEqual([
      { name: 'by-sa', creator_user_id: null, creator_service_account_id: 'ci-bot' },
      { name: 'by-system', creator_user_id: null, creator_service_account_id: null },
      { name: 'by-user', creator_user_id: 'alice', creator_service_account_id: null },
    ]);
  });

  it('rejects a row with both creator columns set (ck_tasks_at_most_one_creator)', async () => {
    const err = await sql
      .query("INSERT INTO tasks (id, tenant_id, agent_id, name, creator_user_id, creator_service_account_id) VALUES (gen_random_uuid(), 'acme', $1, 'both', 'u', 's')", [agentId])
      .catch((e: { code?: string; constraint?: string }) => e);
    expect(err).toMatchObject({ code: '23514', constraint: 'ck_tasks_at_most_one_creator' });
  });

  it('writes the task and its registration event in one transaction', async () => {
    const res = await create('registered', alice);
    const id = (res.body.data as { id: string }).id;
    const out = await sql.query("SELECT subject, payload FROM outbox_messages WHERE payload->>'resource' = $1", [`task:${id}`]);
    expect(out.rows).toEqual([
      { subject: 'events.tasks.resource_registered', payload: { resource: `task:${id}`, tenant: 'acme', owner: 'user:alice', parent: `agent:${agentId}` } },
    ]);
    // a failed create (duplicate name) leaves neither a row nor an event
    const before = (await sql.query('SELECT count(*)::int AS n FROM outbox_messages')).rows[0].n;
    const dup = await create('registered', alice);
    expect(dup.body).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });
    expect((await sql.query('SELECT count(*)::int AS n FROM outbox_messages')).rows[0].n).toBe(before);
  });

  it('gets by id and by name; another tenant gets NOT_FOUND', async () => {
    const created = (await create('lookup-me', alice)).body.data as { id: string };
    expect((await caller.request('tasks.v1.get', { id: created.id }, { token: alice })).body).toEqual({ ok: true, data: created });
    expect((await caller.request('tasks.v1.get_by_name', { name: 'lookup-me' }, { token: alice })).body).toEqual({ ok: true, data: created });
    const globex = await userToken('globex', 'alice');
    for (const [subject, body] of [
      ['tasks.v1.get', { id: created.id }],
      ['tasks.v1.get_by_name', { name: 'lookup-me' }],
      ['tasks.v1.cancel', { id: created.id }],
      ['tasks.v1.delete', { id: created.id }],
    ] as const) {
      expect((await caller.request(subject, body, { token: globex })).body).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    }
    expect((await create('x', globex)).body).toMatchObject({ ok: false, error: { code: 'NOT_FOUND', message: 'agent not found' } });
  });

  it('cancels once; a second cancel is CONFLICT', async () => {
    const { id } = (await create('cancel-me', alice)).body.data as { id: string };
    const first = await caller.request('tasks.v1.cancel', { id }, { token: alice });
    expect(first.body).toMatchObject({ ok: true, data: { id, status: 'canceled' } });
    const second = await caller.request('tasks.v1.cancel', { id }, { token: alice });
    expect(second.body).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });
  });

  it('deletes by name after resolving the id, deregistering that resource; a missing task is NOT_FOUND', async () => {
    const { id } = (await create('delete-me', alice)).body.data as { id: string };
    const del = await caller.request('tasks.v1.delete', { name: 'delete-me' }, { token: alice });
    expect(del.body).toEqual({ ok: true, data: null });
    expect((await sql.query('SELECT 1 FROM tasks WHERE id = $1', [id])).rowCount).toBe(0);
    const out = await sql.query("SELECT payload FROM outbox WHERE subject = 'events.tasks.resource_deregistered'");
    expect(out.rows.map((r) => r.payload)).toContainEqual({ resource: `task:${id}` });
    expect((await caller.request('tasks.v1.delete', { name: 'delete-me' }, { token: alice })).body).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect((await caller.request('tasks.v1.delete', { id }, { token: alice })).body).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });

  it('lists newest first with keyset pagination and filters, without loss or duplicates', async () => {
    const bob = await userToken('acme', 'bob');
    const bobAgent = ((await caller.request('tasks.v1.create_agent', { name: 'bob-agent' }, { token: bob })).body.data as { id: string }).id;
    const names: string[] = [];
    for (let i = 0; i < 23; i++) {
      const name = `page-${String(i).padStart(2, '0')}`;
      names.push(name);
      await caller.request('tasks.v1.create', { agentId: bobAgent, name }, { token: bob });
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const res = await caller.request('tasks.v1.list', { creatorUserId: 'bob', limit: 5, ...(cursor ? { cursor } : {}) }, { token: bob });
      const data = res.body.data as { items: Array<{ name: string }>; nextCursor: string | null };
      seen.push(...data.items.map((t) => t.name));
      if (!data.nextCursor) break;
      cursor = data.nextCursor;
    }
    expect(seen).toEqual([...names].reverse());
    const byAgent = await caller.request('tasks.v1.list', { agentId: bobAgent, status: 'pending', limit: 100 }, { token: bob });
    expect((byAgent.body.data as { items: unknown[] }).items).toHaveLength(23);
    const bad = await caller.request('tasks.v1.list', { cursor: 'nope' }, { token: bob });
    expect(bad.body).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'cursor' }] } } });
  });

  it('answers a tampered list cursor VALIDATION at cursor, never INTERNAL; the first and the last instant page', async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');
    const id = '0194b3a0-1c2d-7e3f-8a4b-5c6d7e8f9a0b';
    const tampered = [
      // the first three were INTERNAL (PostgreSQL: 22P02, 22008, 22009)
      ['2026-01-01T00:00:00.000Z', '------------------------------------'],
      ['0000-06-01T00:00:00Z', id],
      ['-100000-01-01T00:00:00Z', id],
      ['2026-01-01T00:00:00Z', 'x'],
      ['2026-02-31T00:00:00.000Z', id],
    ];
    for (const v of tampered) {
      const res = await caller.request('tasks.v1.list', { agentId, cursor: b64(v) }, { token: alice });
      expect({ v, body: res.body }).toEqual({
        v,
        body: { ok: false, error: { code: 'VALIDATION', message: 'cursor is not one this list returned', details: { issues: [{ path: 'cursor', message: 'invalid cursor' }] } } },
      });
    }
    // alice's own tasks: no authz-proxy to ask about others
    const mine = { agentId, creatorUserId: 'alice', limit: 500 };
    const all = ((await caller.request('tasks.v1.list', mine, { token: alice })).body.data as { items: unknown[] }).items;
    expect(all.length).toBeGreaterThan(0);
    const at = async (instant: string) => (await caller.request('tasks.v1.list', { ...mine, cursor: b64([instant, id]) }, { token: alice })).body;
    expect(await at('0001-01-01T00:00:00.000Z')).toEqual({ ok: true, data: { items: [], nextCursor: null } });
    expect(await at('9999-12-31T23:59:59.999Z')).toMatchObject({ ok: true, data: { items: { length: all.length }, nextCursor: null } });
  });

  it('validates input with the failing field path', async () => {
    const res = await caller.request('tasks.v1.create', { agentId, name: 'ok', params: 'not-an-object' }, { token: alice });
    expect(res.body).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'params' }] } } });
    const status = await caller.request('tasks.v1.list', { status: 'exploded' }, { token: alice });
    expect(status.body).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'status' }] } } });
  });

  it('a create with a key writes nothing while another request holds the key, and answers as the task reads back', async () => {
    const key = 'create-held-1';
    const holder = new pg.Client({ connectionString: h.db.url });
    await holder.connect();
    try {
      // the lock a request with this key takes for its one statement, held as by a request in flight
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKeyOf(scopeKey('acme', 'user:alice'), key).toString()]);
      const held = await caller.request('tasks.v1.create', { agentId, name: 'held', params: { z: 1, a: { y: [1, 2], b: null } } }, { token: alice, idempotencyKey: key });
      expect(held.body).toMatchObject({ ok: false, error: { code: 'IDEMPOTENCY_IN_PROGRESS' } });
      expect((await sql.query("SELECT count(*)::int AS n FROM idempotency_keys WHERE key = $1", [key])).rows[0].n).toBe(0);
      expect((await sql.query("SELECT count(*)::int AS n FROM tasks WHERE name = 'held'")).rows[0].n).toBe(0);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    const body = { agentId, name: 'held-2', params: { z: 1, a: { y: [1, 2], b: null } }, runAfter: '2030-01-02T03:04:05.678Z', priority: 7 };
    const made = await caller.request('tasks.v1.create', body, { token: alice, idempotencyKey: key });
    expect(made.body.ok).toBe(true);
    const task = made.body.data as { id: string };
    // the stored response is the task as the database reads it back, and the replay is that response
    expect((await caller.request('tasks.v1.get', { id: task.id }, { token: alice })).body.data).toEqual(task);
    const replay = await caller.request('tasks.v1.create', body, { token: alice, idempotencyKey: key });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body.data).toEqual(task);
    const unkeyed = await create('held-3', alice, { params: { q: 'x' } });
    expect((await caller.request('tasks.v1.get', { id: (unkeyed.body.data as { id: string }).id }, { token: alice })).body.data).toEqual(unkeyed.body.data);
  });

  it('creates one task for 25 concurrent requests with one Idempotency-Key', async () => {
    const replies = await Promise.all(
      Array.from({ length: 25 }, () => caller.request('tasks.v1.create', { agentId, name: 'once' }, { token: alice, idempotencyKey: 'create-once-1' })),
    );
    const oks = replies.filter((r) => r.body.ok);
    const inFlight = replies.filter((r) => !r.body.ok);
    expect(oks.length).toBeGreaterThan(0);
    for (const r of inFlight) expect(r.body.error?.code).toBe('IDEMPOTENCY_IN_PROGRESS');
    expect(new Set(oks.map((r) => (r.body.data as { id: string }).id)).size).toBe(1);
    expect((await sql.query("SELECT count(*)::int AS n FROM tasks WHERE name = 'once'")).rows[0].n).toBe(1);
    const retry = await caller.request('tasks.v1.create', { agentId, name: 'once' }, { token: alice, idempotencyKey: 'create-once-1' });
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.body.data).toEqual(oks[0]!.body.data);
  });
});
