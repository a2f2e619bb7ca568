import pg from 'pg';

const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$/;

export function databaseName(databaseUrl: string): string {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, ''));
  if (!SAFE_NAME.test(name)) throw new Error(`refusing database name ${JSON.stringify(name)}: letters, digits, _ and - only`);
  return name;
}

/** The same server's `postgres` database, for CREATE/DROP DATABASE. */
export function adminUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.pathname = '/postgres';
  return url.toString();
}

async function withAdmin<T>(databaseUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl(databaseUrl), application_name: 'agentplane-migrate' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates the database named in the URL if it does not exist yet (safe when two callers race). */
export async function ensureDatabase(databaseUrl: string): Promise<{ created: boolean }> {
  const name = databaseName(databaseUrl);
  return withAdmin(databaseUrl, async (c) => {
    const found = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return { created: false };
    try {
      await c.query(`CREATE DATABASE "${name}"`);
      return { created: true };
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === '42P04' || code === '23505') return { created: false }; // created by a concurrent caller
      throw err;
    }
  });
}

/** Drops a scratch database (name must contain `test`), disconnecting its sessions. */
export async function dropDatabase(databaseUrl: string): Promise<void> {
  const name = databaseName(databaseUrl);
  if (!name.includes('test')) throw new Error(`refusing to drop ${name}: only scratch databases whose name contains "test"`);
  await withAdmin(databaseUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}
