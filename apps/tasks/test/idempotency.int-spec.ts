import pg from 'pg';
import { Idempotency, payloadHash, scopeKey } from '@agentplane/idempotency';
import type { Task } from '@agentplane/contracts';
import type { TestDatabase } from '@agentplane/persistence';
import { signDevToken } from '@agentplane/auth';
import { readMetric } from '@agentplane/observability';
import { NatsCaller, serviceAccountToken, TEST_AUTH, testPrefix, userToken, type RawReply, type RunningService } from '@agentplane/testing';
import { startTasks, tasksDatabase } from './setup.js';

const CREATE = 'tasks.v1.create_agent';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('idempotency keys on tasks.v1.create_agent over NATS', () => {
  let db: TestDatabase;
  let sql: pg.Client;
  let instances: RunningService[] = [];
  let caller: NatsCaller;
  const prefix = testPrefix('idem');

  beforeAll(async () => {
    db = await tasksDatabase();
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    // Two handler instances in one queue group, with a short lease for the crash test.
    instances = await Promise.all([startTasks(db, prefix, { IDEMPOTENCY_LEASE_SECONDS: '2' }), startTasks(db, prefix, { IDEMPOTENCY_LEASE_SECONDS: '2' })]);
    caller = await NatsCaller.connect(prefix);
  });

  afterAll(async () => {
    await caller?.close();
    await Promise.all(instances.map((s) => s.close()));
    await sql?.end();
    await db?.drop();
  });

  const agentsNamed = async (name: string, tenant = 'acme') =>
    Number((await sql.query('SELECT count(*) FROM agents WHERE name = $1 AND tenant_id = $2', [name, tenant])).rows[0].count);
  const create = (name: string, token: string, key?: string): Promise<RawReply> => caller.request(CREATE, { name }, { token, idempotencyKey: key });

  it('runs 25 concurrent identical requests once across two instances; every answer is that result or IN_PROGRESS; a retry replays', async () => {
    const token = await userToken('acme', 'alice');
    const before = await Promise.all(instances.map((s) => handledBy(s)));
    const replies = await Promise.all(Array.from({ length: 25 }, () => create('raced', token, 'race-key-1')));
    expect(await agentsNamed('raced')).toBe(1);

    const ok = replies.filter((r) => r.body.ok);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    for (const r of replies) {
      if (!r.body.ok) expect(r.body.error?.code).toBe('IDEMPOTENCY_IN_PROGRESS');
      else expect(r.body.data).toEqual(ok[0]!.body.data);
    }
    expect(ok.filter((r) => r.headers['idempotent-replayed'] !== 'true')).toHaveLength(1);
    // Both queue-group members took part in the race.
    const after = await Promise.all(instances.map((s) => handledBy(s)));
    expect(after[0]! - before[0]! + (after[1]! - before[1]!)).toBe(25);
    expect(after[0]! - before[0]!).toBeGreaterThan(0);
    expect(after[1]! - before[1]!).toBeGreaterThan(0);

    const retry = await create('raced', token, 'race-key-1');
    expect(retry.body).toEqual({ ok: true, data: ok[0]!.body.data });
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(await agentsNamed('raced')).toBe(1);
  });

  it('answers IDEMPOTENCY_MISMATCH for the same key with another payload, with no side effect', async () => {
    const token = await userToken('acme', 'alice');
    expect((await create('first', token, 'mismatch-key')).body.ok).toBe(true);
    const other = await create('second', token, 'mismatch-key');
    expect(other.body).toMatchObject({ ok: false, error: { code: 'IDEMPOTENCY_MISMATCH' } });
    expect(await agentsNamed('second')).toBe(0);
  });

  it('refuses a number JSON cannot write (1e400), naming it, before the key: never a keyed request that runs unkeyed', async () => {
    const token = await userToken('acme', 'alice');
    const agent = (await create('nonfinite', token)).body.data as { id: string };
    const raw = `{"agentId":"${agent.id}","name":"inf-1","params":{"x":1e400}}`;
    for (let i = 0; i < 2; i++) {
      const r = await caller.request('tasks.v1.create', undefined, { token, idempotencyKey: 'nonfinite-key', raw });
      expect(r.body).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'params.x', message: 'must be a finite number (JSON has no Infinity)' }] } } });
    }
    expect(Number((await sql.query("SELECT count(*) FROM tasks WHERE name = 'inf-1'")).rows[0].count)).toBe(0);
  });

  it('holds a keyed long-poll claim\'s key for its wait: a retry while it waits past the lease is IN_PROGRESS, not a second claim', async () => {
    const token = await userToken('acme', 'alice');
    const agent = (await create('long-poller', token)).body.data as { id: string };
    const body = { agentId: agent.id, workerId: 'w1', waitMs: 3_000 };
    const waiting = caller.request('tasks.v1.claim', body, { token, idempotencyKey: 'claim-key', timeoutMs: 10_000 });
    // past the 2 s lease these instances run with, within the wait
    await sleep(2_500);
    const started = Date.now();
    const retry = await caller.request('tasks.v1.claim', body, { token, idempotencyKey: 'claim-key', timeoutMs: 10_000 });
    expect([retry.body, Date.now() - started < 1_000]).toEqual([expect.objectContaining({ ok: false, error: expect.objectContaining({ code: 'IDEMPOTENCY_IN_PROGRESS' }) }), true]);
    expect((await waiting).body).toEqual({ ok: true, data: { items: [] } });
  });

  it('treats the same key from another principal or tenant as an independent request', async () => {
    const key = 'shared-key';
    const a = await create('indep-a', await userToken('acme', 'alice'), key);
    const b = await create('indep-b', await userToken('acme', 'bob'), key);
    const c = await create('indep-a', await userToken('globex', 'alice'), key);
    const d = await create('indep-d', await serviceAccountToken('acme', 'alice'), key);
    for (const r of [a, b, c, d]) {
      expect(r.body.ok).toBe(true);
      expect(r.headers['idempotent-replayed']).toBeUndefined();
    }
    expect(await agentsNamed('indep-a', 'acme')).toBe(1);
    expect(await agentsNamed('indep-a', 'globex')).toBe(1);
  });

  it('blocks a key left in progress by a crashed worker with IN_PROGRESS until the lease passes, then runs the retry', async () => {
    const token = await userToken('acme', 'alice');
    const scope = `acme\u001fuser:alice`;
    // The crash: a claim written, its handler never finishing (lease = IDEMPOTENCY_LEASE_SECONDS = 2).
    await sql.query(
      `INSERT INTO idempotency_keys (scope_key, key, payload_hash, status, claim_id, expires_at)
       VALUES ($1, 'crashed-key', $2, 'in_progress', gen_random_uuid(), now() + interval '2 seconds')`,
      [scope, payloadHash(CREATE, { name: 'after-crash' })],
    );
    const blocked = await create('after-crash', token, 'crashed-key');
    expect(blocked.body).toMatchObject({ ok: false, error: { code: 'IDEMPOTENCY_IN_PROGRESS' } });
    expect(await agentsNamed('after-crash')).toBe(0);
    await sleep(2_100);
    const retried = await create('after-crash', token, 'crashed-key');
    expect(retried.body.ok).toBe(true);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(await agentsNamed('after-crash')).toBe(1);
  });

  it('stores the response in the agent\'s transaction, and a failed request is not replayed', async () => {
    const token = await userToken('acme', 'alice');
    const made = await create('tx-agent', token, 'tx-key');
    const row = (await sql.query(`SELECT status, response FROM idempotency_keys WHERE key = 'tx-key'`)).rows[0];
    expect(row).toEqual({ status: 'completed', response: { data: made.body.data } });

    // A duplicate name fails with CONFLICT: the key is released, not cached.
    const dup = await create('tx-agent', token, 'dup-key');
    expect(dup.body).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });
    expect((await sql.query(`SELECT count(*) FROM idempotency_keys WHERE key = 'dup-key'`)).rows[0].count).toBe('0');
    await sql.query(`UPDATE agents SET name = 'tx-agent-renamed' WHERE name = 'tx-agent'`);
    const retry = await create('tx-agent', token, 'dup-key');
    expect(retry.body.ok).toBe(true);
  });

  it('rejects an invalid key, and control characters in the tenant or principal of the caller', async () => {
    const token = await userToken('acme', 'alice');
    const bad = await create('bad-key', token, 'has space');
    expect(bad.body).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'header.idempotency-key' }] } } });
    const long = await create('bad-key', token, 'k'.repeat(256));
    expect(long.body).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    for (const [tenant, sub] of [
      ['acme\u001fuser:x', 'alice'],
      ['acme', 'x\u001fuser:alice'],
      ['acme', 'line\nbreak'],
    ]) {
      const forged = await signDevToken({ ...TEST_AUTH, tenant, sub });
      const r = await create('injected', forged, 'inject-key');
      expect(r.body.ok).toBe(false);
      expect(['UNAUTHENTICATED', 'VALIDATION']).toContain(r.body.error?.code);
    }
    expect(await agentsNamed('injected')).toBe(0);
    expect(await agentsNamed('bad-key')).toBe(0);
  });

  it('sweeps expired keys, and an expired key runs again as new', async () => {
    const token = await userToken('acme', 'alice');
    expect((await create('expiring', token, 'expiring-key')).body.ok).toBe(true);
    await sql.query(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'expiring-key'`);
    expect(await instances[0]!.app.get(Idempotency).sweep()).toBeGreaterThanOrEqual(1);
    expect((await sql.query(`SELECT count(*) FROM idempotency_keys WHERE key = 'expiring-key'`)).rows[0].count).toBe('0');
    await sql.query(`UPDATE agents SET name = 'expiring-old' WHERE name = 'expiring'`);
    const again = await create('expiring', token, 'expiring-key');
    // A new request: it runs and makes a second agent.
    expect(again.body.ok).toBe(true);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(await agentsNamed('expiring')).toBe(1);
    expect(await agentsNamed('expiring-old')).toBe(1);
  });

  it('replays create, cancel and delete of a task under their keys, though the task then exists, is terminal or is gone', async () => {
    // Transaction mode answers a retry whose use case now fails (name taken, task terminal, task gone) from its key.
    const token = await userToken('acme', 'alice');
    const agentId = ((await create('replays', token)).body.data as { id: string }).id;
    const tasksNamed = async (name: string) => Number((await sql.query('SELECT count(*) FROM tasks WHERE name = $1', [name])).rows[0].count);
    const call = (subject: string, body: object, key?: string) => caller.request(subject, body, { token, idempotencyKey: key });

    const made = await call('tasks.v1.create', { agentId, name: 'replayed-task' }, 'task-create-key');
    expect(made.body.ok).toBe(true);
    const madeAgain = await call('tasks.v1.create', { agentId, name: 'replayed-task' }, 'task-create-key');
    expect(madeAgain.body).toEqual(made.body);
    expect(madeAgain.headers['idempotent-replayed']).toBe('true');
    expect(await tasksNamed('replayed-task')).toBe(1);
    const id = (made.body.data as { id: string }).id;

    const canceled = await call('tasks.v1.cancel', { id }, 'task-cancel-key');
    expect(canceled.body).toMatchObject({ ok: true, data: { status: 'canceled' } });
    const canceledAgain = await call('tasks.v1.cancel', { id }, 'task-cancel-key');
    expect(canceledAgain.body).toEqual(canceled.body);
    expect(canceledAgain.headers['idempotent-replayed']).toBe('true');
    // Without the key (or with another) the second cancel is what it is: 409.
    expect((await call('tasks.v1.cancel', { id }, 'another-cancel-key')).body).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });

    const deleted = await call('tasks.v1.delete', { id }, 'task-delete-key');
    expect(deleted.body.ok).toBe(true);
    const deletedAgain = await call('tasks.v1.delete', { id }, 'task-delete-key');
    expect(deletedAgain.body).toEqual(deleted.body);
    expect(deletedAgain.headers['idempotent-replayed']).toBe('true');
    expect((await call('tasks.v1.delete', { id })).body).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await tasksNamed('replayed-task')).toBe(0);
    // One deregistration event, from the delete that ran.
    const events = await sql.query(`SELECT count(*) FROM outbox WHERE subject LIKE '%resource_deregistered' AND payload->>'resource' = $1`, [`task:${id}`]);
    expect(events.rows[0].count).toBe('1');
  });

  it('stores a keyed task create packed, and replays it as answered after the task changed and after it is gone', async () => {
    const token = await userToken('acme', 'alice');
    const agentId = ((await create('packed', token)).body.data as { id: string }).id;
    const body = { agentId, name: 'packed-task', params: { z: 1.5, a: { y: [1, 'two', null], b: false } }, runAfter: '2030-01-02T03:04:05.678Z', priority: 7 };
    const call = (subject: string, payload: object, key?: string) => caller.request(subject, payload, { token, idempotencyKey: key });
    const made = await call('tasks.v1.create', body, 'packed-key');
    expect(made.body).toMatchObject({ ok: true, data: { name: 'packed-task', status: 'pending', priority: 7, params: body.params } });
    const task = made.body.data as Task;

    const row = (
      await sql.query(`SELECT response, pg_column_size(response) AS size, pg_column_size($1::jsonb) AS whole FROM idempotency_keys WHERE key = 'packed-key'`, [
        JSON.stringify({ data: task }),
      ])
    ).rows[0];
    expect(row.response).toEqual({ packed: 'tasks.task-created/1', value: expect.any(Array) });
    expect(row.response.value.slice(0, 4)).toEqual([task.id, 'acme', agentId, 'packed-task']);
    // under half the size of the task stored whole
    expect(row.size).toBeLessThan(row.whole / 2);

    // a replay answers the task as created, whichever instance answers, while the task moves on and once it is gone
    const replays = async () => {
      for (let i = 0; i < 4; i++) {
        const again = await call('tasks.v1.create', body, 'packed-key');
        expect(again.headers['idempotent-replayed']).toBe('true');
        expect(again.body).toEqual(made.body);
      }
    };
    await replays();
    expect((await call('tasks.v1.cancel', { id: task.id })).body).toMatchObject({ ok: true, data: { status: 'canceled' } });
    await replays();
    expect((await call('tasks.v1.delete', { id: task.id })).body.ok).toBe(true);
    await replays();
  });

  it('replays a task create stored whole (as before packing, or with packing off), and fails loudly on an unknown packing', async () => {
    const token = await userToken('acme', 'alice');
    const agentId = ((await create('whole', token)).body.data as { id: string }).id;
    const scope = scopeKey('acme', 'user:alice');
    const call = (name: string, key: string, to = caller) => to.request('tasks.v1.create', { agentId, name }, { token, idempotencyKey: key });
    const stored = async (key: string) => (await sql.query('SELECT response FROM idempotency_keys WHERE key = $1', [key])).rows[0]?.response;
    const store = (key: string, name: string, response: unknown) =>
      sql.query(
        `INSERT INTO idempotency_keys (scope_key, key, payload_hash, status, claim_id, response, expires_at)
         VALUES ($1, $2, $3, 'completed', gen_random_uuid(), $4, now() + interval '1 hour')`,
        [scope, key, payloadHash('tasks.v1.create', { agentId, name }), JSON.stringify(response)],
      );

    // a response stored whole (an earlier version's row) is replayed as it is
    const source = (await caller.request('tasks.v1.create', { agentId, name: 'whole-source' }, { token })).body.data as Task;
    const whole = { ...source, id: '00000000-0000-7000-8000-000000000001', name: 'whole-1' };
    await store('whole-key', 'whole-1', { data: whole });
    const replayed = await call('whole-1', 'whole-key');
    expect(replayed.body).toEqual({ ok: true, data: whole });
    expect(replayed.headers['idempotent-replayed']).toBe('true');

    // a codec this service does not know: an INTERNAL error, never a replay of something else; nothing is created
    await store('unknown-key', 'whole-2', { packed: 'tasks.task-created/999', value: [1, 2, 3] });
    expect((await call('whole-2', 'unknown-key')).body).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
    expect(Number((await sql.query(`SELECT count(*) FROM tasks WHERE name = 'whole-2'`)).rows[0].count)).toBe(0);

    // with IDEMPOTENCY_PACKED_RESPONSES=false an instance stores the task whole, and still replays a packed row
    const wholePrefix = testPrefix('idem_whole');
    const unpacking = await startTasks(db, wholePrefix, { IDEMPOTENCY_PACKED_RESPONSES: 'false' });
    const wholeCaller = await NatsCaller.connect(wholePrefix);
    try {
      const made = await call('whole-3', 'whole-3-key', wholeCaller);
      expect(made.body.ok).toBe(true);
      expect(await stored('whole-3-key')).toEqual({ data: made.body.data });
      expect((await call('whole-3', 'whole-3-key')).body).toEqual(made.body);

      const packed = await call('whole-4', 'whole-4-key');
      expect(await stored('whole-4-key')).toMatchObject({ packed: 'tasks.task-created/1' });
      const again = await call('whole-4', 'whole-4-key', wholeCaller);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toEqual(packed.body);
    } finally {
      await wholeCaller.close();
      await unpacking.close();
    }
  });

  it('keeps working without a key, unless the service requires one (400 VALIDATION)', async () => {
    const token = await userToken('acme', 'alice');
    expect((await create('no-key', token)).body.ok).toBe(true);
    const strictPrefix = testPrefix('idem_req');
    const strict = await startTasks(db, strictPrefix, { IDEMPOTENCY_REQUIRED: 'true' });
    const strictCaller = await NatsCaller.connect(strictPrefix);
    try {
      const missing = await strictCaller.request(CREATE, { name: 'strict' }, { token });
      expect(missing.body).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'header.idempotency-key' }] } } });
      expect((await strictCaller.request(CREATE, { name: 'strict' }, { token, idempotencyKey: 'strict-key' })).body.ok).toBe(true);
      // Reads need no key.
      const agentId = (await sql.query(`SELECT id FROM agents WHERE name = 'strict'`)).rows[0].id as string;
      expect((await strictCaller.request('tasks.v1.get_agent', { id: agentId }, { token })).body.ok).toBe(true);
    } finally {
      await strictCaller.close();
      await strict.close();
    }
  });
});

/** Requests of tasks.v1.create_agent one instance handled (any outcome), from its own /metrics. */
function handledBy(svc: RunningService): Promise<number> {
  return readMetric(svc.url, 'rpc_server_requests_total', { subject: CREATE });
}
