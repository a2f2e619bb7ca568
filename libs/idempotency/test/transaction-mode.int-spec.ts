import pg from 'pg';
import { DomainError, isDomainError } from '@agentplane/domain';
import { PgSql, SqlPool, createTestDatabase, type SqlTx, type TestDatabase } from '@agentplane/persistence';
import {
  Idempotency,
  idempotencyConfig,
  lockKeyOf,
  payloadHash,
  scopeKeyOf,
  type IdempotencyConfig,
  type ResponseCodec,
  type StatementKey,
  type StoredResponse,
} from '../src/index.js';
import { alice, codeOf, sleep, storeMigrations, user } from './helpers.js';

// Transaction mode on a real PostgreSQL: the key is held by the business transaction's advisory lock and written once,
// completed, in that transaction. `effects` stands in for the business change.
const dir = storeMigrations();

/** A promise to open by hand, and one that says the use case is inside its transaction. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  let entered!: () => void;
  const inside = new Promise<void>((r) => (entered = r));
  return { open, opened, entered, inside };
}

describe('Idempotency in transaction mode (SqlPool)', () => {
  let db: TestDatabase;
  let sql: SqlPool;
  let admin: pg.Pool;
  let n = 0;
  const key = () => `tx-key-${++n}-${Math.random().toString(36).slice(2)}`;

  beforeAll(async () => {
    db = await createTestDatabase({ service: 'idempotency', migrationsDir: dir });
    sql = new SqlPool({ url: db.url, max: 30 });
    admin = new pg.Pool({ connectionString: db.url, max: 2 });
  });
  afterAll(async () => {
    await sql?.end();
    await admin?.end();
    await db?.drop();
  });

  const make = (over: Partial<IdempotencyConfig> = {}) => new Idempotency(sql, idempotencyConfig({ sweepIntervalSeconds: 0, ...over }));
  const effects = async (label: string) => Number((await admin.query('SELECT count(*) FROM effects WHERE label = $1', [label])).rows[0].count);
  const row = async (k: string) => (await admin.query('SELECT status, response FROM idempotency_keys WHERE key = $1', [k])).rows[0] as { status: string; response: unknown } | undefined;

  /** A use case whose whole effect is one SqlPool transaction: the effect row, then the key's response. */
  function useCase(idem: Idempotency, label: string, opts: { gate?: ReturnType<typeof gate>; inTx?: (tx: SqlTx) => Promise<void>; failAfterComplete?: boolean } = {}) {
    return async (): Promise<StoredResponse> =>
      sql.$transaction(async (tx) => {
        const rows = await tx.$queryRaw<Array<{ id: number }>>`INSERT INTO effects (label) VALUES (${label}) RETURNING id`;
        await opts.inTx?.(tx);
        if (opts.gate) {
          opts.gate.entered();
          await opts.gate.opened;
        }
        const data = { id: rows[0]!.id, label };
        await idem.completeWithin(tx, data);
        if (opts.failAfterComplete) throw new Error('crash after completing, before commit');
        return { data };
      });
  }

  it('writes the key once, completed, in the business transaction, and replays it; the replay runs no effect', async () => {
    const idem = make();
    const k = key();
    const req = { principal: alice, key: k, subject: 'svc.v1.create', payload: { name: 'a', params: { x: 1 } } };
    const first = await idem.handle(req, useCase(idem, k), 'transaction');
    expect(first.replayed).toBe(false);
    expect(await row(k)).toEqual({ status: 'completed', response: first.response });
    const again = await idem.handle({ ...req, payload: { params: { x: 1 }, name: 'a' } }, useCase(idem, k), 'transaction');
    expect(again).toEqual({ replayed: true, response: first.response });
    // The replay's own insert rolled back with its transaction.
    expect(await effects(k)).toBe(1);
  });

  it('lets 25 concurrent requests with one key run the effect once; the rest replay or get IN_PROGRESS', async () => {
    const idem = make();
    const k = key();
    const req = { principal: alice, key: k, subject: 's', payload: { race: true } };
    const results = await Promise.allSettled(
      Array.from({ length: 25 }, () => idem.handle(req, useCase(idem, k, { inTx: async () => void (await sleep(30)) }), 'transaction')),
    );
    expect(await effects(k)).toBe(1);
    const done = results.filter((r): r is PromiseFulfilledResult<Awaited<ReturnType<Idempotency['handle']>>> => r.status === 'fulfilled');
    expect(done.filter((r) => !r.value.replayed)).toHaveLength(1);
    for (const r of done) expect(r.value.response).toEqual(done.find((d) => !d.value.replayed)!.value.response);
    for (const r of results) if (r.status === 'rejected') expect(isDomainError(r.reason) && r.reason.code).toBe('IDEMPOTENCY_IN_PROGRESS');
  });

  it('answers IN_PROGRESS at once while the first request holds the key in its open transaction; then replays', async () => {
    const idem = make();
    const k = key();
    const req = { principal: alice, key: k, subject: 's', payload: {} };
    const g = gate();
    const first = idem.handle(req, useCase(idem, k, { gate: g }), 'transaction');
    await g.inside;
    // Met in the second request's BEGIN round trip: IN_PROGRESS at once (no wait on the first's row), and none of the
    // second's statements ran.
    let secondRan = false;
    const second = idem.handle(req, useCase(idem, k, { inTx: async () => void (secondRan = true) }), 'transaction');
    expect(await Promise.race([codeOf(second), sleep(3_000).then(() => 'still waiting')])).toBe('IDEMPOTENCY_IN_PROGRESS');
    expect(secondRan).toBe(false);
    g.open();
    const done = await first;
    expect(done.replayed).toBe(false);
    expect(await idem.handle(req, useCase(idem, k), 'transaction')).toEqual({ replayed: true, response: done.response });
    expect(await effects(k)).toBe(1);
  });

  it('holds nothing once a worker dies mid-transaction: the retry runs at once, with no lease to wait out', async () => {
    const idem = make({ leaseSeconds: 3_600 });
    const k = key();
    const req = { principal: alice, key: k, subject: 's', payload: {} };
    const g = gate();
    let pid = 0;
    const dying = idem.handle(
      req,
      useCase(idem, k, {
        gate: g,
        inTx: async (tx) => {
          pid = (await tx.$queryRaw<Array<{ pid: number }>>`SELECT pg_backend_pid() AS pid`)[0]!.pid;
        },
      }),
      'transaction',
    );
    await g.inside;
    expect(await codeOf(idem.handle(req, useCase(idem, k), 'transaction'))).toBe('IDEMPOTENCY_IN_PROGRESS');
    // The worker's session ends (a crash, a killed pod): PostgreSQL rolls back its transaction and drops its lock.
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    g.open();
    await expect(dying).rejects.toThrow();
    const retry = await idem.handle(req, useCase(idem, k), 'transaction');
    expect(retry.replayed).toBe(false);
    expect(await effects(k)).toBe(1);
  });

  it('answers IDEMPOTENCY_MISMATCH for the same key with another payload, and rolls that request back', async () => {
    const idem = make();
    const k = key();
    await idem.handle({ principal: alice, key: k, subject: 's', payload: { v: 1 } }, useCase(idem, k), 'transaction');
    expect(await codeOf(idem.handle({ principal: alice, key: k, subject: 's', payload: { v: 2 } }, useCase(idem, `${k}-other`), 'transaction'))).toBe(
      'IDEMPOTENCY_MISMATCH',
    );
    expect(await effects(`${k}-other`)).toBe(0);
  });

  it('answers a failure that an earlier request with the key explains from the stored row; any other failure is the answer', async () => {
    const idem = make();
    const k = key();
    const req = { principal: alice, key: k, subject: 's', payload: {} };
    // Like cancel: the second time the task is already terminal, so the use case itself refuses.
    const cancelOnce = async (): Promise<StoredResponse> =>
      sql.$transaction(async (tx) => {
        const [{ n }] = await tx.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM effects WHERE label = ${k}`;
        if (n > 0) throw new DomainError('CONFLICT', 'already canceled');
        await tx.$executeRaw`INSERT INTO effects (label) VALUES (${k})`;
        await idem.completeWithin(tx, { canceled: true });
        return { data: { canceled: true } };
      });
    expect(await idem.handle(req, cancelOnce, 'transaction')).toEqual({ replayed: false, response: { data: { canceled: true } } });
    expect(await idem.handle(req, cancelOnce, 'transaction')).toEqual({ replayed: true, response: { data: { canceled: true } } });
    // Another key: nothing stored explains the failure, so the caller gets it.
    expect(await codeOf(idem.handle({ ...req, key: key() }, cancelOnce, 'transaction'))).toBe('CONFLICT');
    expect(await effects(k)).toBe(1);
  });

  it('never stores a failure: a transaction that rolls back after completing leaves no row, and the retry runs', async () => {
    const idem = make();
    const k = key();
    const req = { principal: alice, key: k, subject: 's', payload: {} };
    await expect(idem.handle(req, useCase(idem, k, { failAfterComplete: true }), 'transaction')).rejects.toThrow(/crash after completing/);
    expect(await row(k)).toBeUndefined();
    expect(await effects(k)).toBe(0);
    expect((await idem.handle(req, useCase(idem, k), 'transaction')).replayed).toBe(false);
    expect(await effects(k)).toBe(1);
  });

  it('respects a claim-mode row: IN_PROGRESS (rolled back) until its lease lapses, then takes the key over; and an expired response', async () => {
    const idem = make({ leaseSeconds: 1 });
    const k = key();
    const req = { principal: alice, key: k, subject: 's', payload: {} };
    // An in-progress claim, as a claim-mode worker (or one that crashed) leaves it.
    const claim = await idem.store.claim({ scopeKey: scopeKeyOf(alice), key: k, payloadHash: payloadHash('s', {})!, claimId: '00000000-0000-4000-8000-000000000002', leaseSeconds: 1, ttlSeconds: 3_600 });
    expect(claim.kind).toBe('claimed');
    expect(await codeOf(idem.handle(req, useCase(idem, k), 'transaction'))).toBe('IDEMPOTENCY_IN_PROGRESS');
    expect(await effects(k)).toBe(0);
    await sleep(1_100);
    const taken = await idem.handle(req, useCase(idem, k), 'transaction');
    expect(taken.replayed).toBe(false);
    expect(await effects(k)).toBe(1);
    // Past its TTL, the stored response no longer answers: the key runs as new.
    await admin.query(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1`, [k]);
    expect((await idem.handle(req, useCase(idem, k), 'transaction')).replayed).toBe(false);
    expect(await effects(k)).toBe(2);
  });

  it('fails loudly for a handler that returns without completing in its transaction, and stores nothing', async () => {
    const idem = make();
    const k = key();
    await expect(idem.handle({ principal: alice, key: k, subject: 's', payload: {} }, async () => ({ data: 1 }), 'transaction')).rejects.toThrow(
      /returned without completeWithin/,
    );
    expect(await row(k)).toBeUndefined();
  });

  it('refuses to complete in a transaction that does not hold the key lock, and rolls it back', async () => {
    const idem = make();
    const k = key();
    const client = await admin.connect();
    try {
      const outside = async (): Promise<StoredResponse> => {
        await client.query('BEGIN');
        try {
          await client.query('INSERT INTO effects (label) VALUES ($1)', [k]);
          await idem.completeWithin(new PgSql(client), { x: 1 });
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          throw err;
        }
        return { data: { x: 1 } };
      };
      await expect(idem.handle({ principal: alice, key: k, subject: 's', payload: {} }, outside, 'transaction')).rejects.toThrow(/needs the SqlPool transaction/);
    } finally {
      client.release();
    }
    expect(await effects(k)).toBe(0);
    expect(await row(k)).toBeUndefined();
  });

  describe('packed responses (ResponseCodec)', () => {
    /** A codec whose value is `[id, label]` for the data `{id, label, kind: 'thing'}`. */
    const codec: ResponseCodec = {
      name: 'test.thing/1',
      unpack: (value) => {
        const [id, label] = value as [number, string];
        return { id, label, kind: 'thing' };
      },
    };
    const data = { id: 7, label: 'seven', kind: 'thing' };
    const packed = { codec, value: [7, 'seven'] };

    /** One-statement use case in transaction mode that writes nothing: it hands over `response` and returns what the store was given. */
    const storedBy = async (idem: Idempotency, response: Parameters<Idempotency['inStatement']>[0]) => {
      let given: StatementKey | undefined;
      const k = key();
      await idem.handle(
        { principal: alice, key: k, subject: 'svc.v1.thing', payload: { k } },
        async () => ({
          data: await idem.inStatement(response, async (sk) => {
            given = sk;
            return { result: response.data, locked: true, stored: { takeover: false } };
          }),
        }),
        'transaction',
      );
      return given?.row.response;
    };

    it('stores the packed form of a registered codec, the whole response with packing off or without a packed form', async () => {
      const idem = make();
      idem.registerCodec(codec);
      expect(await storedBy(idem, { data, packed })).toEqual({ packed: 'test.thing/1', value: [7, 'seven'] });
      expect(await storedBy(idem, { data, headers: { 'x-h': '1' }, packed })).toEqual({ packed: 'test.thing/1', value: [7, 'seven'], headers: { 'x-h': '1' } });
      expect(await storedBy(idem, { data })).toEqual({ data });
      const off = make({ packResponses: false });
      off.registerCodec(codec);
      expect(await storedBy(off, { data, packed })).toEqual({ data });
    });

    it('refuses a packed form whose codec is not registered before anything runs, and bad or clashing codec names', async () => {
      const idem = make();
      let ran = false;
      await expect(
        idem.handle(
          { principal: alice, key: key(), subject: 'svc.v1.thing', payload: {} },
          async () => ({ data: await idem.inStatement({ data, packed }, async () => ((ran = true), { result: data, locked: true, stored: { takeover: false } })) }),
          'transaction',
        ),
      ).rejects.toThrow(/codec "test.thing\/1" is not registered/);
      expect(ran).toBe(false);
      // packing off: a codec need not be registered, the response is stored whole
      expect(await storedBy(make({ packResponses: false }), { data, packed })).toEqual({ data });

      idem.registerCodec(codec);
      idem.registerCodec(codec);
      expect(() => idem.registerCodec({ ...codec })).toThrow(/registered already/);
      expect(() => idem.registerCodec({ name: '', unpack: () => null })).toThrow(/codec name/);
      expect(() => idem.registerCodec({ name: 'has space', unpack: () => null })).toThrow(/codec name/);
    });

    it('replays a packed row through its codec, with its headers; an unknown codec fails loudly and leaves the row', async () => {
      const stored = async (k: string, response: unknown, payload: unknown) =>
        admin.query(
          `INSERT INTO idempotency_keys (scope_key, key, payload_hash, status, claim_id, response, expires_at)
           VALUES ($1, $2, $3, 'completed', gen_random_uuid(), $4, now() + interval '1 hour')`,
          [scopeKeyOf(alice), k, payloadHash('svc.v1.thing', payload), JSON.stringify(response)],
        );
      const idem = make();
      idem.registerCodec(codec);
      const never = async (): Promise<StoredResponse> => {
        throw new Error('the handler ran');
      };
      for (const mode of ['claim', 'transaction'] as const) {
        const k = key();
        await stored(k, { packed: 'test.thing/1', value: [7, 'seven'], headers: { 'x-h': '1' } }, { k });
        expect(await idem.handle({ principal: alice, key: k, subject: 'svc.v1.thing', payload: { k } }, never, mode)).toEqual({
          replayed: true,
          response: { data, headers: { 'x-h': '1' } },
        });

        const u = key();
        const unknown = { packed: 'test.other/1', value: [1] };
        await stored(u, unknown, { u });
        const err = await idem.handle({ principal: alice, key: u, subject: 'svc.v1.thing', payload: { u } }, never, mode).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(Error);
        expect(isDomainError(err)).toBe(false);
        expect((err as Error).message).toMatch(/packed by "test.other\/1", which this service does not know/);
        expect(await row(u)).toEqual({ status: 'completed', response: unknown });
      }
    });
  });

  it('derives one lock per (scope, key): another key or another scope is another lock', () => {
    const a = lockKeyOf(scopeKeyOf(alice), 'k1');
    expect(typeof a).toBe('bigint');
    expect(lockKeyOf(scopeKeyOf(alice), 'k1')).toBe(a);
    expect(lockKeyOf(scopeKeyOf(alice), 'k2')).not.toBe(a);
    expect(lockKeyOf(scopeKeyOf(user('acme', 'bob')), 'k1')).not.toBe(a);
  });
});
