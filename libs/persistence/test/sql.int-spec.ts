import pg from 'pg';
import { fileURLToPath } from 'node:url';
import { PrismaClient } from '@agentplane/db-tasks';
import {
  SqlPool,
  TransactionLockBusyError,
  createPrismaClient,
  createTestDatabase,
  inTransaction,
  isUniqueViolation,
  sqlStateOf,
  withTransactionLock,
  type SqlTx,
  type TestDatabase,
} from '../src/index.js';

const MIGRATIONS = fileURLToPath(new URL('../../../prisma/tasks/migrations', import.meta.url));
const AGENT = '00000000-0000-4000-8000-000000000001';

describe('SqlPool (raw SQL on plain pg, shared with Prisma)', () => {
  let db: TestDatabase;
  let sql: SqlPool;

  beforeAll(async () => {
    db = await createTestDatabase({ service: 'tasks', migrationsDir: MIGRATIONS });
    sql = new SqlPool({ url: db.url, max: 4 });
  });
  afterAll(async () => {
    await sql?.end();
    await db?.drop();
  });

  const agents = async () => (await sql.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM agents`)[0].n;

  it('binds every interpolated value as a parameter, never as SQL text', async () => {
    const evil = "x'); DROP TABLE agents; --";
    const n = await sql.$executeRaw`INSERT INTO agents (id, tenant_id, name) VALUES (${AGENT}::uuid, ${'acme'}, ${evil})`;
    expect(n).toBe(1);
    const rows = await sql.$queryRaw<Array<{ name: string; created_at: Date }>>`SELECT name, created_at FROM agents WHERE id = ${AGENT}::uuid`;
    expect(rows[0].name).toBe(evil);
    expect(rows[0].created_at).toBeInstanceOf(Date);
    expect(await sql.$queryRawUnsafe<Array<{ x: { a: number[] } }>>('SELECT $1::jsonb AS x', JSON.stringify({ a: [1, 2] }))).toEqual([{ x: { a: [1, 2] } }]);
  });

  it('refuses a Prisma.sql-like fragment instead of sending it as a value', async () => {
    const fragment = { strings: ['1'], values: [] };
    await expect(sql.$queryRaw`SELECT ${fragment}`).rejects.toThrow(/plain values only/);
  });

  it('commits a transaction, and rolls all of it back when the callback throws', async () => {
    const before = await agents();
    await sql.$transaction(async (tx) => {
      await tx.$executeRaw`INSERT INTO agents (id, tenant_id, name) VALUES (gen_random_uuid(), 'acme', 'committed')`;
    });
    await expect(
      sql.$transaction(async (tx) => {
        await tx.$executeRaw`INSERT INTO agents (id, tenant_id, name) VALUES (gen_random_uuid(), 'acme', 'rolled-back')`;
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await agents()).toBe(before + 1);
    expect(await sql.$queryRaw`SELECT 1 FROM agents WHERE name = 'rolled-back'`).toEqual([]);
  });

  it('reports a unique violation with its SQLSTATE, and the connection is usable again', async () => {
    const err = await sql
      .$transaction(async (tx) => {
        await tx.$executeRaw`INSERT INTO agents (id, tenant_id, name) VALUES (gen_random_uuid(), 'acme', 'dup')`;
        await tx.$executeRaw`INSERT INTO agents (id, tenant_id, name) VALUES (gen_random_uuid(), 'acme', 'dup')`;
      })
      .catch((e: unknown) => e);
    expect(isUniqueViolation(err)).toBe(true);
    expect(await sql.$queryRaw`SELECT 1 FROM agents WHERE name = 'dup'`).toEqual([]);
    // every connection of the pool still answers outside a transaction
    const answers = await Promise.all(Array.from({ length: 8 }, () => sql.$queryRaw<Array<{ tx: string }>>`SELECT txid_current_if_assigned()::text AS tx`));
    expect(answers.every((r) => r[0].tx === null)).toBe(true);
  });

  it('runs SERIALIZABLE transactions that inTransaction retries on a real serialization failure', async () => {
    await sql.$executeRaw`CREATE TABLE IF NOT EXISTS counters (id int PRIMARY KEY, n int NOT NULL)`;
    await sql.$executeRaw`INSERT INTO counters VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET n = 0`;
    let attempts = 0;
    const bump = () =>
      inTransaction(
        sql,
        async (tx) => {
          attempts++;
          const [{ n }] = await tx.$queryRaw<Array<{ n: number }>>`SELECT n FROM counters WHERE id = 1`;
          await new Promise((r) => setTimeout(r, 50)); // both read before either writes
          await tx.$executeRaw`UPDATE counters SET n = ${n + 1} WHERE id = 1`;
        },
        { isolationLevel: 'Serializable', attempts: 10 },
      );
    await Promise.all([bump(), bump()]);
    expect((await sql.$queryRaw<Array<{ n: number }>>`SELECT n FROM counters WHERE id = 1`)[0].n).toBe(2);
    expect(attempts).toBeGreaterThan(2); // one of the two was retried after 40001
  });

  it('is the pool Prisma runs on: one pool, both clients, one transaction sees the other\'s writes only after commit', async () => {
    const prisma = createPrismaClient(PrismaClient, { url: db.url }, sql);
    try {
      await sql.$transaction(async (tx) => {
        await tx.$executeRaw`INSERT INTO agents (id, tenant_id, name) VALUES ('00000000-0000-4000-8000-000000000002'::uuid, 'acme', 'shared')`;
        expect(await prisma.agent.findFirst({ where: { name: 'shared' } })).toBeNull();
      });
      expect((await prisma.agent.findFirst({ where: { name: 'shared' } }))?.id).toBe('00000000-0000-4000-8000-000000000002');
      // Prisma's statements are prepared as well: seen on a one-connection pool, where they ran
      const one = new SqlPool({ url: db.url, max: 1 });
      const onOne = createPrismaClient(PrismaClient, { url: db.url }, one);
      await onOne.agent.findFirst({ where: { name: 'shared' } });
      const [{ n: prepared }] = await one.$queryRaw<Array<{ n: number }>>`
        SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement LIKE '%FROM "public"."agents"%' AND statement NOT LIKE '%pg_prepared%'`;
      await onOne.$disconnect();
      await one.end();
      expect(prepared).toBeGreaterThan(0);
      expect(sql.pool.totalCount).toBeLessThanOrEqual(4);
    } finally {
      await prisma.$disconnect();
    }
    // Prisma leaves a pool it was given open
    expect(await sql.$queryRaw`SELECT 1 AS one`).toEqual([{ one: 1 }]);
  });

  it('prepares each statement once per connection, and a column added under it (a migration\'s expand step) breaks nothing', async () => {
    await sql.$executeRaw`CREATE TABLE IF NOT EXISTS widgets (id int PRIMARY KEY, label text NOT NULL)`;
    await sql.$executeRaw`INSERT INTO widgets VALUES (1, 'one') ON CONFLICT (id) DO NOTHING`;
    const read = (tx: SqlTx) => tx.$queryRaw<Array<{ id: number; label: string }>>`SELECT id, label FROM widgets WHERE id = ${1}`;
    const prepared = await sql.$transaction(async (tx) => {
      await read(tx);
      await read(tx);
      // (this query is prepared too, and its text holds the pattern: leave it out)
      return tx.$queryRaw<Array<{ name: string }>>`
        SELECT name FROM pg_prepared_statements WHERE statement LIKE '%FROM widgets WHERE id%' AND statement NOT LIKE '%pg_prepared_statements%'`;
    });
    expect(prepared).toHaveLength(1); // one prepared statement on that connection, used twice
    expect(prepared[0].name).toMatch(/^ap_[0-9a-f]{24}$/);
    await sql.$executeRaw`ALTER TABLE widgets ADD COLUMN IF NOT EXISTS colour text`;
    // every pooled connection that prepared it still runs it
    const again = await Promise.all(Array.from({ length: 8 }, () => sql.$transaction((tx) => read(tx))));
    expect(again.every((r) => r[0].label === 'one')).toBe(true);
  });

  it('runs unnamed statements when asked not to prepare', async () => {
    const plain = new SqlPool({ url: db.url, max: 1, prepare: false });
    try {
      const names = await plain.$transaction(async (tx) => {
        await tx.$queryRaw`SELECT 42 AS unprepared_marker`;
        return tx.$queryRaw<Array<{ name: string }>>`SELECT name FROM pg_prepared_statements WHERE statement LIKE '%42 AS unprepared%' AND statement NOT LIKE '%pg_prepared_statements%'`;
      });
      expect(names).toEqual([]);
    } finally {
      await plain.end();
    }
  });

  it('ends a transaction left idle past its timeout: rolled back, its connection dropped, the pool unharmed', async () => {
    const stuck = sql.$transaction(
      async (tx) => {
        await tx.$executeRaw`INSERT INTO agents (id, tenant_id, name) VALUES (gen_random_uuid(), 'acme', 'stuck')`;
        await new Promise((r) => setTimeout(r, 1_000)); // a caller that hangs mid-transaction
        await tx.$executeRaw`SELECT 1`;
      },
      { timeout: 200 },
    );
    await expect(stuck).rejects.toThrow();
    expect(await sql.$queryRaw`SELECT 1 FROM agents WHERE name = 'stuck'`).toEqual([]);
    const answers = await Promise.all(Array.from({ length: 8 }, () => sql.$transaction((tx) => tx.$queryRaw<Array<{ one: number }>>`SELECT 1 AS one`)));
    expect(answers.every((r) => r[0].one === 1)).toBe(true);
  });

  it('names the SQLSTATE of a failed statement', async () => {
    const err = await sql.$queryRaw`SELECT 1/0`.catch((e: unknown) => e);
    expect(sqlStateOf(err)).toBe('22012');
  });

  it('takes a transaction lock in the BEGIN round trip: a second holder fails before its callback, the lock ends with the transaction', async () => {
    let open!: () => void;
    const opened = new Promise<void>((r) => (open = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const held: Array<bigint | undefined> = [];
    const first = withTransactionLock(42n, () =>
      sql.$transaction(async (tx) => {
        held.push(tx.transactionLock);
        entered();
        await opened;
      }),
    );
    await inside;
    // PostgreSQL shows the lock: a transaction-level advisory lock on key 42 (objid carries its low 32 bits).
    const locks = await sql.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = 42 AND granted`;
    expect(locks[0].n).toBe(1);
    let ran = false;
    await expect(withTransactionLock(42n, () => sql.$transaction(async () => void (ran = true)))).rejects.toBeInstanceOf(TransactionLockBusyError);
    expect(ran).toBe(false);
    // Another key, and a transaction outside withTransactionLock, are not held up.
    await withTransactionLock(-43n, () => sql.$transaction(async (tx) => void held.push(tx.transactionLock)));
    await sql.$transaction(async (tx) => void held.push(tx.transactionLock));
    open();
    await first;
    // Committed: the key is free again.
    await withTransactionLock(42n, () => sql.$transaction(async (tx) => void held.push(tx.transactionLock)));
    expect(held).toEqual([42n, -43n, undefined, 42n]);
    // The busy transaction was rolled back on a connection the pool still uses: every connection is idle and clean.
    const states = await sql.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`;
    expect(states[0].n).toBe(0);
    expect(() => withTransactionLock(2n ** 63n, async () => undefined)).toThrow(RangeError);
  });

  it('answers a failed statement only once the server has rolled it back: its row locks are gone, its connection kept', async () => {
    // PostgreSQL sends a statement's error before it rolls the statement back and sends ReadyForQuery. A caller that
    // moved on at the error could find the failed statement's rows still locked (a SKIP LOCKED claim skipped them).
    const one = new SqlPool({ url: db.url, max: 1 });
    try {
      let ready = 0;
      one.pool.on('connect', (c) => (c as unknown as { connection: { on(e: string, f: () => void): void } }).connection.on('readyForQuery', () => ready++));
      await one.$executeRaw`INSERT INTO agents (id, tenant_id, name) VALUES ('00000000-0000-4000-8000-0000000000f1', 'acme', 'locked-by-a-failure')`;
      const [{ pid }] = await one.$queryRaw<Array<{ pid: number }>>`SELECT pg_backend_pid() AS pid`;
      const other = new pg.Client({ connectionString: db.url });
      await other.connect();
      try {
        for (let i = 0; i < 20; i++) {
          await one.$queryRaw`SELECT 1`;
          const before = ready;
          // locks the row, then fails: 1/0 on the locked row
          const heard = await one.$queryRaw`WITH l AS (SELECT id FROM agents WHERE name = 'locked-by-a-failure' FOR UPDATE) SELECT 1 / 0 FROM l`.then(
            () => ({ err: undefined as unknown, ready: ready - before }),
            (err: unknown) => ({ err, ready: ready - before }),
          );
          expect(sqlStateOf(heard.err)).toBe('22012');
          // The failed statement's ReadyForQuery had arrived when its error reached the caller.
          expect(heard.ready).toBeGreaterThanOrEqual(1);
          const free = await other.query("SELECT id FROM agents WHERE name = 'locked-by-a-failure' FOR UPDATE SKIP LOCKED");
          expect(free.rows).toHaveLength(1);
        }
      } finally {
        await other.end();
      }
      // the same connection all along: a failed statement no longer costs the pool its connection
      expect(await one.$queryRaw`SELECT pg_backend_pid() AS pid`).toEqual([{ pid }]);
    } finally {
      await one.end();
    }
  });
});
