import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * A transaction-level advisory lock taken in the BEGIN round trip of a `SqlPool` transaction (no round trip of its
 * own): `withTransactionLock(key, fn)` makes every `SqlPool.$transaction` that `fn` starts (in its async context)
 * take `pg_try_advisory_xact_lock(key)` with its BEGIN. When another transaction holds the key, the transaction is
 * rolled back before its callback runs and `TransactionLockBusyError` is thrown. PostgreSQL releases the lock when
 * the transaction ends, however it ends: a worker that dies mid-transaction leaves nothing held.
 * The idempotency lib uses it to tell a key's request that is still running (DESIGN §7: 409) from one that is done.
 */
export class TransactionLockBusyError extends Error {
  constructor() {
    super('another transaction holds this transaction lock');
    this.name = 'TransactionLockBusyError';
  }
}

const locks = new AsyncLocalStorage<bigint>();

/** Runs `fn` with `key` (a signed 64-bit integer) as the lock of the SqlPool transactions it starts. */
export function withTransactionLock<R>(key: bigint, fn: () => Promise<R>): Promise<R> {
  if (BigInt.asIntN(64, key) !== key) throw new RangeError('a transaction lock key is a signed 64-bit integer');
  return locks.run(key, fn);
}

/** The lock a transaction started here would take, if any. */
export function pendingTransactionLock(): bigint | undefined {
  return locks.getStore();
}

/**
 * The BEGIN round trip's extra statement: the key is a bigint (checked again here), so its decimal text is digits
 * and a sign only; it is a number the caller computed, spliced like the idle timeout next to it, never caller text.
 */
export function tryLockStatement(key: bigint): string {
  if (typeof key !== 'bigint' || BigInt.asIntN(64, key) !== key) throw new RangeError('a transaction lock key is a signed 64-bit integer');
  return `SELECT pg_try_advisory_xact_lock(${key.toString()}::int8) AS locked`;
}
