import { PrismaPg } from '@prisma/adapter-pg';

export interface PrismaOptions {
  url: string;
  /** Pool size of this process (DATABASE_POOL_MAX). */
  poolMax?: number;
}

/** Builds a service's Prisma client on the pg driver adapter (Prisma 7: no engine binary, plain `pg` pool). */
export function createPrismaClient<T>(Client: new (opts: { adapter: PrismaPg }) => T, opts: PrismaOptions): T {
  const adapter = new PrismaPg({
    connectionString: opts.url,
    max: opts.poolMax ?? 10,
    application_name: 'agentplane',
  });
  return new Client({ adapter });
}

interface RawQueryable {
  $queryRawUnsafe(sql: string): Promise<unknown>;
}

/** Readiness probe of a Prisma client. */
export async function pingDatabase(client: RawQueryable): Promise<void> {
  await client.$queryRawUnsafe('SELECT 1');
}
