import pg from 'pg';

/** SQLSTATEs on which a whole transaction may be retried safely: serialization failure and deadlock. */
const RETRYABLE = new Set(['40001', '40P01']);
const SQLSTATE = /^[0-9A-Z]{5}$/;

export function sqlStateOf(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 5 && e && typeof e === 'object'; i++) {
    const o = e as {
      name?: unknown;
      code?: unknown;
      meta?: { code?: unknown; driverAdapterError?: { cause?: { originalCode?: unknown } } };
      cause?: unknown;
    };
    // Prisma's own codes (P2002, P2010, …) look like SQLSTATEs but are not: the database's code is in meta.
    const fromPrisma = typeof o.name === 'string' && o.name.startsWith('PrismaClient');
    const orig = o.meta?.driverAdapterError?.cause?.originalCode;
    if (typeof orig === 'string') return orig;
    if (typeof o.meta?.code === 'string' && SQLSTATE.test(o.meta.code)) return o.meta.code;
    if (!fromPrisma && typeof o.code === 'string' && SQLSTATE.test(o.code)) return o.code;
    e = o.cause;
  }
  return undefined;
}

/** SQLSTATE classes after which a statement's outcome, or the session's, is not known to be a rollback. */
const OUTCOME_UNKNOWN = new Set(['08', '57', '58', 'XX']);

/**
 * An error the server reported for a statement on `pg` (a constraint, a deadlock, bad input, …), after which the
 * statement has certainly written nothing (an autocommitted statement rolled back) and the connection stands. Not a
 * lost connection, a shutdown or crash (class 08, 57, 58, XX; severity FATAL or PANIC) nor a client-side error, after
 * which a commit may or may not have happened.
 */
export function isStatementError(err: unknown): boolean {
  if (!(err instanceof pg.DatabaseError)) return false;
  if (err.severity === 'FATAL' || err.severity === 'PANIC') return false;
  return typeof err.code === 'string' && SQLSTATE.test(err.code) && !OUTCOME_UNKNOWN.has(err.code.slice(0, 2));
}

/** Unique-violation from Prisma (P2002) or from pg (23505). */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown })?.code === 'P2002' || sqlStateOf(err) === '23505';
}

export interface TransactionalClient<Tx> {
  $transaction<R>(fn: (tx: Tx) => Promise<R>, options?: { isolationLevel?: 'ReadCommitted' | 'RepeatableRead' | 'Serializable'; timeout?: number; maxWait?: number }): Promise<R>;
}

/**
 * Runs `fn` in one transaction; retries the whole transaction (up to `attempts`) on serialization failure or
 * deadlock, which PostgreSQL reports only at the cost of the work done so far.
 */
export async function inTransaction<Tx, R>(
  client: TransactionalClient<Tx>,
  fn: (tx: Tx) => Promise<R>,
  opts: { isolationLevel?: 'ReadCommitted' | 'RepeatableRead' | 'Serializable'; attempts?: number; timeoutMs?: number } = {},
): Promise<R> {
  const attempts = opts.attempts ?? 3;
  for (let i = 1; ; i++) {
    try {
      return await client.$transaction(fn, { isolationLevel: opts.isolationLevel, timeout: opts.timeoutMs ?? 15_000, maxWait: 10_000 });
    } catch (err) {
      const state = sqlStateOf(err);
      if (i >= attempts || !state || !RETRYABLE.has(state)) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * 20 * 2 ** i));
    }
  }
}
