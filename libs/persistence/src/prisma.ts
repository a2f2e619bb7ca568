import { PrismaPg } from '@prisma/adapter-pg';
import { SqlPool, preparedNameOf } from './sql.js';

export interface PrismaOptions {
  url: string;
  /** Pool size of this process (DATABASE_POOL_MAX). */
  poolMax?: number;
}

/**
 * Builds a service's Prisma client on the pg driver adapter (Prisma 7: no engine binary, plain `pg` pool). Given a
 * `SqlPool`, the client runs on that pool, so the service holds one pool of DATABASE_POOL_MAX connections in all.
 */
export function createPrismaClient<T>(Client: new (opts: { adapter: PrismaPg }) => T, opts: PrismaOptions, sql?: SqlPool): T {
  // Prisma's statements are prepared too (its SQL names every column, so an added column never breaks them).
  const options = { statementNameGenerator: (q: { sql: string }) => preparedNameOf(q.sql) ?? '' }; // '': unnamed
  const adapter = sql
    ? new PrismaPg(sql.pool, options)
    : new PrismaPg({ connectionString: opts.url, max: opts.poolMax ?? 10, application_name: 'agentplane' }, options);
  return new Client({ adapter });
}

interface RawQueryable {
  $queryRawUnsafe(sql: string): PromiseLike<unknown>;
}

/** Readiness probe of a Prisma client or a SqlPool. */
export async function pingDatabase(client: RawQueryable): Promise<void> {
  await client.$queryRawUnsafe('SELECT 1');
}

/**
 * One reading of the database's clock (`clock_timestamp()`) between two of this process's: the database read its
 * clock at some instant between `sentAt` and `answeredAt`, so this process's clock minus the database's was between
 * `sentAt - db` and `answeredAt - db` then.
 */
export async function databaseClockReading(client: RawQueryable): Promise<{ sentAt: number; db: number; answeredAt: number }> {
  const sentAt = Date.now();
  const rows = (await client.$queryRawUnsafe('SELECT clock_timestamp() AS t')) as Array<{ t: Date }>;
  const answeredAt = Date.now();
  const db = rows[0]?.t;
  if (!(db instanceof Date)) throw new Error('the database answered no clock_timestamp()');
  return { sentAt, db: db.getTime(), answeredAt };
}

