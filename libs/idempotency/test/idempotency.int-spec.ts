import pg from 'pg';
import { isDomainError, type Principal } from '@agentplane/domain';
import { PgSql, createTestDatabase, type TestDatabase } from '@agentplane/persistence';
import { Idempotency, idempotencyConfig, idempotencyTableSql, payloadHash, scopeKeyOf, type IdempotencyConfig, type SqlClient, type StoredResponse } from '../src/index.js';
import { alice, codeOf, sleep, storeMigrations, user } from './helpers.js';

// The store on a real PostgreSQL: the lib's own DDL snippet plus a table standing in for a business change.
const dir = storeMigrations();

/** What Prisma's client and transaction client offer, over a pg pool or a pg client in a transaction. */
const sqlClient = (q: pg.Pool | pg.PoolClient): SqlClient => new PgSql(q);

describe('Idempotency on PostgreSQL', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let n = 0;
  const key = () => `key-${++n}-${Math.random().toString(36).slice(2)}`;

  beforeAll(async () => {
    db = await createTestDatabase({ service: 'idempotency', migrationsDir: dir });
    pool = new pg.Pool({ connectionString: db.url, max: 30 });
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  const make = (over: Partial<IdempotencyConfig> = {}) => new Idempotency(sqlClient(pool), idempotencyConfig({ sweepIntervalSeconds: 0, ...over }));
  const effects = async (label: string) => Number((await pool.query('SELECT count(*) FROM effects WHERE label = $1', [label])).rows[0].count);

  /** A use case: inserts its effect and completes the key in the same transaction. */
  function useCase(idem: Idempotency, label: string, opts: { delayMs?: number; failAfterComplete?: boolean } = {}) {
    return async (): Promise<StoredResponse> => {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        const { rows } = await c.query<{ id: number }>('INSERT INTO effects (label) VALUES ($1) RETURNING id', [label]);
        if (opts.delayMs) await sleep(opts.delayMs);
        const data = { id: rows[0]!.id, label };
        await idem.completeWithin(sqlClient(c), data);
        if (opts.failAfterComplete) throw new Error('crash after completing, before commit');
        await c.query('COMMIT');
        return { data };
      } catch (err) {
        await c.query('ROLLBACK');
        throw err;
      } finally {
        c.release();
      }
    };
  }

  it('runs the first request and replays its stored response for the same key and payload', async () => {
    const idem = make();
    const k = key();
    const req = { principal: alice, key: k, subject: 'svc.v1.create', payload: { name: 'a', params: { x: 1, y: 2 } } };
    const first = await idem.handle(req, useCase(idem, k));
    expect(first.replayed).toBe(false);
    // Same payload in another key order: the same request.
    const again = await idem.handle({ ...req, payload: { params: { y: 2, x: 1 }, name: 'a' } }, useCase(idem, k));
    expect(again).toEqual({ replayed: true, response: first.response });
    expect(await effects(k)).toBe(1);
  });

  it('answers IDEMPOTENCY_MISMATCH for the same key with another payload or subject', async () => {
    const idem = make();
    const k = key();
    await idem.handle({ principal: alice, key: k, subject: 'svc.v1.create', payload: { name: 'a' } }, useCase(idem, k));
    expect(await codeOf(idem.handle({ principal: alice, key: k, subject: 'svc.v1.create', payload: { name: 'b' } }, useCase(idem, k)))).toBe('IDEMPOTENCY_MISMATCH');
    expect(await codeOf(idem.handle({ principal: alice, key: k, subject: 'svc.v1.delete', payload: { name: 'a' } }, useCase(idem, k)))).toBe('IDEMPOTENCY_MISMATCH');
    expect(await effects(k)).toBe(1);
  });

  it('lets 25 concurrent requests with one key run the side effect once; the rest replay or get IN_PROGRESS', async () => {
    const idem = make();
    const k = key();
    const req = { principal: alice, key: k, subject: 'svc.v1.create', payload: { name: 'race' } };
    const results = await Promise.allSettled(Array.from({ length: 25 }, () => idem.handle(req, useCase(idem, k, { delayMs: 30 }))));
    expect(await effects(k)).toBe(1);
    const fresh = results.filter((r) => r.status === 'fulfilled' && !r.value.replayed);
    expect(fresh).toHaveLength(1);
    const data = (fresh[0] as PromiseFulfilledResult<{ response: StoredResponse }>).value.response.data;
    for (const r of results) {
      if (r.status === 'fulfilled') expect(r.value.response.data).toEqual(data);
      else expect(isDomainError(r.reason) && r.reason.code).toBe('IDEMPOTENCY_IN_PROGRESS');
    }
  });

  it('keys of another principal or tenant are independent', async () => {
    const idem = make();
    const k = key();
    const payload = { name: 'same' };
    const callers = [alice, user('acme', 'bob'), user('globex', 'alice'), { ...alice, kind: 'service_account', serviceAccountId: 'alice' } as Principal];
    for (const p of callers) {
      const r = await idem.handle({ principal: p, key: k, subject: 's', payload }, useCase(idem, k));
      expect(r.replayed).toBe(false);
    }
    expect(await effects(k)).toBe(4);
  });

  it('blocks a key held by a crashed worker with IN_PROGRESS until its lease lapses, then runs the retry', async () => {
    const idem = make({ leaseSeconds: 1 });
    const k = key();
    const req = { principal: alice, key: k, subject: 's', payload: {} };
    // The crash: a claim whose handler never finishes.
    const claim = await idem.store.claim({ scopeKey: scopeKeyOf(alice), key: k, payloadHash: 'x', claimId: '00000000-0000-4000-8000-000000000001', leaseSeconds: 1, ttlSeconds: 3_600 });
    expect(claim.kind).toBe('claimed');
    // (The marker's hash is not this payload's; a matching retry would be IN_PROGRESS, a different one MISMATCH.)
    expect(await codeOf(idem.handle(req, useCase(idem, k)))).toBe('IDEMPOTENCY_MISMATCH');
    await pool.query('UPDATE idempotency_keys SET payload_hash = $1 WHERE key = $2', [payloadHash(req.subject, req.payload), k]);
    expect(await codeOf(idem.handle(req, useCase(idem, k)))).toBe('IDEMPOTENCY_IN_PROGRESS');
    await sleep(1_100);
    const retried = await idem.handle(req, useCase(idem, k));
    expect(retried.replayed).toBe(false);
    expect(await effects(k)).toBe(1);
  });

  it('fences a worker whose lease lapsed: its completion fails and its transaction rolls back', async () => {
    const idem = make({ leaseSeconds: 1 });
    const k = key();
    const req = { principal: alice, key: k, subject: 's', payload: { slow: true } };
    const slow = idem.handle(req, useCase(idem, k, { delayMs: 1_500 }));
    await sleep(1_100);
    const takeover = await idem.handle(req, useCase(idem, k));
    expect(takeover.replayed).toBe(false);
    expect(await codeOf(slow)).toBe('IDEMPOTENCY_IN_PROGRESS');
    expect(await effects(k)).toBe(1);
    expect((await idem.handle(req, useCase(idem, k))).response).toEqual(takeover.response);
  });

  it('stores the response only with the business change: a rolled-back transaction leaves no response and frees the key', async () => {
    const idem = make();
    const k = key();
    const req = { principal: alice, key: k, subject: 's', payload: {} };
    await expect(idem.handle(req, useCase(idem, k, { failAfterComplete: true }))).rejects.toThrow(/crash after completing/);
    expect(await effects(k)).toBe(0);
    expect((await pool.query('SELECT count(*) FROM idempotency_keys WHERE key = $1', [k])).rows[0].count).toBe('0');
    const retry = await idem.handle(req, useCase(idem, k));
    expect(retry.replayed).toBe(false);
    expect(await effects(k)).toBe(1);
  });

  it('never replays a failure: the key is released and a retry runs again', async () => {
    const idem = make();
    const k = key();
    const req = { principal: alice, key: k, subject: 's', payload: {} };
    let calls = 0;
    const failing = async (): Promise<StoredResponse> => {
      calls++;
      throw new Error('boom');
    };
    await expect(idem.handle(req, failing)).rejects.toThrow('boom');
    await expect(idem.handle(req, failing)).rejects.toThrow('boom');
    expect(calls).toBe(2);
  });

  it('completes after the handler returns when it did not complete in a transaction', async () => {
    const idem = make();
    const k = key();
    const req = { principal: alice, key: k, subject: 's', payload: {} };
    let calls = 0;
    const handler = async (): Promise<StoredResponse> => ({ data: { calls: ++calls }, headers: { 'x-made': 'here' } });
    expect(await idem.handle(req, handler)).toEqual({ replayed: false, response: { data: { calls: 1 }, headers: { 'x-made': 'here' } } });
    expect(await idem.handle(req, handler)).toEqual({ replayed: true, response: { data: { calls: 1 }, headers: { 'x-made': 'here' } } });
    expect(calls).toBe(1);
  });

  it('without a key: runs unprotected, or refuses with VALIDATION when keys are required; a bad key or no caller is refused', async () => {
    const k = key();
    const r = await make().handle({ principal: alice, key: undefined, subject: 's', payload: {} }, useCase(make(), k));
    expect(r.replayed).toBe(false);
    expect(await codeOf(make({ required: true }).handle({ principal: alice, key: undefined, subject: 's', payload: {} }, useCase(make(), k)))).toBe('VALIDATION');
    expect(await codeOf(make().handle({ principal: alice, key: 'bad key', subject: 's', payload: {} }, useCase(make(), k)))).toBe('VALIDATION');
    expect(await codeOf(make().handle({ principal: undefined, key: 'k', subject: 's', payload: {} }, useCase(make(), k)))).toBe('UNAUTHENTICATED');
    expect(await codeOf(make().handle({ principal: user('ac\u001fme', 'x'), key: 'k', subject: 's', payload: {} }, useCase(make(), k)))).toBe('VALIDATION');
    expect(await effects(k)).toBe(1);
  });

  it('sweeps expired rows in batches, keeps live ones, and an expired key runs again as new', async () => {
    const idem = make({ sweepBatchSize: 500 });
    const k = key();
    const req = { principal: alice, key: k, subject: 's', payload: {} };
    await idem.handle(req, useCase(idem, k));
    await pool.query(
      `INSERT INTO idempotency_keys (scope_key, key, payload_hash, status, claim_id, response, expires_at)
       SELECT 'sweep-scope', 'k' || g, 'h', 'completed', gen_random_uuid(), '{"data":null}', now() - interval '1 second' FROM generate_series(1, 1200) g`,
    );
    expect(await idem.sweep()).toBe(1200);
    expect((await pool.query(`SELECT count(*) FROM idempotency_keys WHERE key = $1`, [k])).rows[0].count).toBe('1');
    expect((await idem.handle(req, useCase(idem, k))).replayed).toBe(true);
    // Past its TTL: swept, then the same key is a new request.
    await pool.query(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1`, [k]);
    expect(await idem.sweep()).toBe(1);
    expect((await idem.handle(req, useCase(idem, k))).replayed).toBe(false);
    expect(await effects(k)).toBe(2);
    // And an expired row that was not swept yet is taken over just the same.
    await pool.query(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1`, [k]);
    expect((await idem.handle(req, useCase(idem, k))).replayed).toBe(false);
    expect(await effects(k)).toBe(3);
  });

  it('completes without touching an indexed column: the expiry set at the claim stays, and the update is HOT', async () => {
    // An update is HOT only if it changes no indexed column AND its new version fits on the row's page. Its own table,
    // empty and filled to half a page at most, leaves each page room for its rows' new versions, so whether an update
    // is HOT here depends only on the columns it sets (on the shared table, a full page made one in 20 not HOT).
    const table = 'idempotency_keys_hot';
    await pool.query(`${idempotencyTableSql(table)}ALTER TABLE ${table} SET (fillfactor = 50);`);
    // One connection, so its pending statistics can be flushed on demand (pg_stat_force_next_flush).
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const stats = async () => {
        await client.query('SELECT pg_stat_force_next_flush()');
        const { rows } = await pool.query<{ upd: string; hot: string }>(
          `SELECT n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE relname = $1`,
          [table],
        );
        return { upd: Number(rows[0].upd), hot: Number(rows[0].hot) };
      };
      const idem = new Idempotency(sqlClient(client as unknown as pg.PoolClient), idempotencyConfig({ sweepIntervalSeconds: 0, ttlSeconds: 7_200, table }));
      const before = await stats();
      const keys = Array.from({ length: 20 }, key);
      for (const k of keys) await idem.handle({ principal: alice, key: k, subject: 's', payload: {} }, async () => ({ data: { k } }));
      const after = await stats();
      expect(after.upd - before.upd).toBe(20);
      expect(after.hot - before.hot).toBe(20);
      const { rows } = await pool.query<{ ok: boolean }>(
        `SELECT bool_and(status = 'completed' AND expires_at BETWEEN created_at + interval '7199 seconds' AND created_at + interval '7201 seconds') AS ok
           FROM ${table} WHERE key = ANY($1)`,
        [keys],
      );
      expect(rows[0].ok).toBe(true);
    } finally {
      await client.end();
    }
  });

  it('completeWithin outside an idempotent request does nothing', async () => {
    await expect(make().completeWithin(sqlClient(pool), { any: 1 })).resolves.toBeUndefined();
  });
});
