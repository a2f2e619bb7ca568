import { createHash } from 'node:crypto';
import pg from 'pg';
import { TransactionLockBusyError, pendingTransactionLock, tryLockStatement } from './transaction-lock.js';
import { isStatementError } from './transaction.js';

/**
 * The raw-SQL surface of a Prisma client and of its interactive transaction (`tx`): what the idempotency store, the
 * outbox and the hot write paths need. `SqlPool` (plain `pg`) and a Prisma client both have it, so code written
 * against it runs on either.
 */
export interface RawSql {
  $queryRaw<T = unknown>(query: TemplateStringsArray, ...values: unknown[]): PromiseLike<T>;
  $executeRaw(query: TemplateStringsArray, ...values: unknown[]): PromiseLike<number>;
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): PromiseLike<T>;
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>;
}

export type IsolationLevel = 'ReadCommitted' | 'RepeatableRead' | 'Serializable';

const ISOLATION: Record<IsolationLevel, string> = {
  ReadCommitted: 'BEGIN ISOLATION LEVEL READ COMMITTED',
  RepeatableRead: 'BEGIN ISOLATION LEVEL REPEATABLE READ',
  Serializable: 'BEGIN ISOLATION LEVEL SERIALIZABLE',
};

/** `a ${x} b ${y}` → `a $1 b $2`; the texts are cached per call site (a template's strings array is reused). */
const texts = new WeakMap<TemplateStringsArray, string>();
function textOf(strings: TemplateStringsArray): string {
  let text = texts.get(strings);
  if (text === undefined) {
    text = strings.reduce((acc, s, i) => `${acc}$${i}${s}`);
    texts.set(strings, text);
  }
  return text;
}

function checkValues(values: unknown[]): unknown[] {
  for (const v of values) {
    // A Prisma.sql fragment would be sent as a JSON parameter, not spliced: refuse it rather than run something else.
    if (v !== null && typeof v === 'object' && 'strings' in v && 'values' in v) {
      throw new Error('SqlPool takes plain values only, not Prisma.sql fragments');
    }
  }
  return values;
}

type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

/**
 * Every statement runs as a named prepared statement (one name per SQL text): each connection parses and plans it
 * once, which took a third off PostgreSQL's CPU for the idempotency claim + completion (tools/bench). The texts are
 * the code's own constants, so the set is small; past MAX_PREPARED texts, statements run unnamed.
 * Caveat of prepared statements: a column *type* change under a running statement fails it once per connection
 * ("cached plan must not change result type"); hence no `SELECT *` / `RETURNING *` on this path, so that adding a
 * column (the expand step of a migration) never does.
 */
const MAX_PREPARED = 1000;
const names = new Map<string, string>();
export function preparedNameOf(text: string): string | undefined {
  let name = names.get(text);
  if (name === undefined && names.size < MAX_PREPARED) {
    name = `ap_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    names.set(text, name);
  }
  return name;
}

/**
 * `$queryRaw` / `$executeRaw` on plain `pg`: every interpolated value is a bound parameter. Results are `pg`'s:
 * `int8`/`numeric` come back as strings (cast to `::int` where a number is wanted), `timestamptz` as `Date`,
 * `json(b)` parsed. A quarter of the CPU time of the same statement through Prisma (tools/bench/tasks).
 */
export class PgSql implements RawSql {
  constructor(
    protected readonly db: Queryable,
    protected readonly prepare = true,
    /** In a transaction started under `withTransactionLock`: the advisory lock it holds. */
    readonly transactionLock?: bigint,
  ) {}

  private run(text: string, values: unknown[]): Promise<pg.QueryResult> {
    const name = this.prepare ? preparedNameOf(text) : undefined;
    return this.query({ name, text, values: checkValues(values) });
  }

  protected query(config: pg.QueryConfig): Promise<pg.QueryResult> {
    return this.db.query(config);
  }

  async $queryRaw<T = unknown>(strings: TemplateStringsArray, ...values: unknown[]): Promise<T> {
    return (await this.run(textOf(strings), values)).rows as T;
  }

  async $executeRaw(strings: TemplateStringsArray, ...values: unknown[]): Promise<number> {
    return (await this.run(textOf(strings), values)).rowCount ?? 0;
  }

  async $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T> {
    return (await this.run(query, values)).rows as T;
  }

  async $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number> {
    return (await this.run(query, values)).rowCount ?? 0;
  }
}

/** A transaction's client: the same surface, on the one connection that holds the transaction. */
export type SqlTx = PgSql;

export interface SqlPoolOptions {
  url: string;
  /** Pool size of this process (DATABASE_POOL_MAX). */
  max?: number;
  applicationName?: string;
  /** Named prepared statements (default true). */
  prepare?: boolean;
}

/**
 * A service's `pg` pool, shared with its Prisma client (the driver adapter runs on it): raw SQL without Prisma's
 * per-query overhead for the hot paths, and interactive transactions (`$transaction`) with the shape of Prisma's, so
 * `inTransaction` retries them the same way.
 */
export class SqlPool extends PgSql {
  readonly pool: pg.Pool;

  constructor(opts: SqlPoolOptions) {
    const pool = new pg.Pool({ connectionString: opts.url, max: opts.max ?? 10, application_name: opts.applicationName ?? 'agentplane', connectionTimeoutMillis: 10_000 });
    super(pool, opts.prepare ?? true);
    this.pool = pool;
    // An idle client dropped by the server: the pool replaces it; the error reaches whoever uses it next.
    this.pool.on('error', () => undefined);
  }

  /**
   * A statement outside a transaction, on a connection of the pool. PostgreSQL reports a failed statement *before* it
   * has rolled it back: until then the statement's row locks are held, and another connection's `FOR UPDATE SKIP
   * LOCKED` skips those rows (a claim retried after a failed one found its task locked by the failure and answered
   * empty). So when the server fails a statement, the error reaches the caller only once the connection is ready
   * again, i.e. once the rollback is done (one empty query on the same connection, queued behind it), and the
   * connection goes back to the pool instead of being closed as `pool.query` closes it.
   */
  protected override query(config: pg.QueryConfig): Promise<pg.QueryResult> {
    return this.onConnection(async (client, broke) => {
      try {
        return await client.query(config);
      } catch (err) {
        if (isStatementError(err)) await client.query('').catch(broke);
        else broke(err as Error);
        throw err;
      }
    });
  }

  /**
   * BEGIN … COMMIT on one connection; ROLLBACK when `fn` throws (and the error is rethrown). A connection whose
   * ROLLBACK fails is destroyed, not returned to the pool. `timeout` (ms, default 15 s, like Prisma's) bounds how
   * long the transaction may sit idle between statements: past it PostgreSQL ends the session, which rolls the
   * transaction back and fails its next statement, so a stuck caller cannot hold locks and a connection forever.
   */
  async $transaction<R>(fn: (tx: SqlTx) => Promise<R>, options: { isolationLevel?: IsolationLevel; timeout?: number } = {}): Promise<R> {
    const timeout = Math.max(1, Math.floor(options.timeout ?? 15_000));
    // Read before any await: the caller's own async context says which lock, if any, this transaction takes.
    const lock = pendingTransactionLock();
    return this.onConnection(async (client, broke) => {
      let locked = true;
      try {
        // One round trip (simple protocol, two or three statements); the numbers are integers we computed, not input.
        const begin = `${ISOLATION[options.isolationLevel ?? 'ReadCommitted']}; SET LOCAL idle_in_transaction_session_timeout = ${timeout}`;
        if (lock === undefined) await client.query(begin);
        else {
          const results = (await client.query(`${begin}; ${tryLockStatement(lock)}`)) as unknown as pg.QueryResult<{ locked: boolean }>[];
          locked = results[2]?.rows[0]?.locked === true;
        }
      } catch (err) {
        broke(err as Error);
        throw err;
      }
      try {
        if (!locked) throw new TransactionLockBusyError();
        const result = await fn(new PgSql(client, this.prepare, lock));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(broke);
        throw err;
      }
    });
  }

  /** `fn` on a connection of the pool, which goes back to the pool after it, or is closed if `fn` said it broke. */
  private async onConnection<R>(fn: (client: pg.PoolClient, broke: (err: Error) => void) => Promise<R>): Promise<R> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    // A checked-out client has no listener of the pool's: without this, the server ending the session (a timeout, a
    // restart) would be an unhandled 'error' event, which ends the process.
    const broke = (err: Error) => {
      broken ??= err;
    };
    client.on('error', broke);
    try {
      return await fn(client, broke);
    } finally {
      client.off('error', broke);
      client.release(broken);
    }
  }

  async end(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }
}
