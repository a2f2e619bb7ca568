import type { RawSql } from './sql.js';

/** Rows a retention forgets: those of `table` whose `at` is older than the retention. */
export interface PruneTarget {
  table: string;
  /** The column a row is deleted by (unique). */
  key: string;
  /** The row's time; an index on it keeps each batch a range scan. */
  at: string;
}

export interface PruneOptions {
  /** Rows per statement (default 1,000): each batch is its own short transaction. */
  batchSize?: number;
  /** Statements per call at most (default 100); the rest waits for the next call. */
  maxBatches?: number;
}

/**
 * Deletes the rows of `t` older than `retentionHours`, oldest first, `batchSize` per statement, until a statement
 * deletes fewer; returns how many. `SKIP LOCKED`: instances pruning at once never wait on each other, nor on a
 * writer. Identifiers come from the code, never from input. 0 hours forgets nothing.
 */
export async function pruneOlderThan(db: Pick<RawSql, '$executeRawUnsafe'>, t: PruneTarget, retentionHours: number, opts: PruneOptions = {}): Promise<number> {
  if (retentionHours <= 0) return 0;
  const batchSize = opts.batchSize ?? 1_000;
  const maxBatches = opts.maxBatches ?? 100;
  const statement = `
    DELETE FROM ${t.table} WHERE ${t.key} IN (
      SELECT ${t.key} FROM ${t.table}
       WHERE ${t.at} < now() - make_interval(hours => $1::int)
       ORDER BY ${t.at}
       LIMIT $2::int
         FOR UPDATE SKIP LOCKED)`;
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await db.$executeRawUnsafe(statement, retentionHours, batchSize);
    total += n;
    if (n < batchSize) break;
  }
  return total;
}

/** The time since which a retention of `retentionHours` keeps every row (an audit page's `keptSince`); null for 0. */
export function keptSince(retentionHours: number, now = Date.now()): string | null {
  return retentionHours > 0 ? new Date(now - retentionHours * 3_600_000).toISOString() : null;
}
