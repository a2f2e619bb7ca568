import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { migrate } from '@agentplane/migrate';

export const DEFAULT_ADMIN_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

function hashMigrations(dir: string): string {
  const h = createHash('sha256');
  for (const entry of readdirSync(dir).sort()) {
    const file = join(dir, entry, 'migration.sql');
    try {
      if (!statSync(file).isFile()) continue;
    } catch {
      continue;
    }
    h.update(entry).update('\0').update(readFileSync(file)).update('\0');
  }
  return h.digest('hex').slice(0, 12);
}

/** Refuses anything that does not look like a throw-away test database. */
export function assertTestDatabaseName(name: string): void {
  if (!/^[a-z0-9_]+$/.test(name) || !name.includes('test')) {
    throw new Error(`refusing database "${name}": test databases must match [a-z0-9_]+ and contain "test"`);
  }
}

async function admin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * Makes sure a migrated template exists for this set of migrations (built once, under an advisory lock, then
 * renamed into place so a crash never leaves a half-built template), and returns its name.
 */
export async function ensureTemplate(service: string, migrationsDir: string, adminUrl = DEFAULT_ADMIN_URL): Promise<string> {
  const svc = service.replace(/[^a-z0-9]/g, '_');
  const template = `ap_tpl_${svc}_${hashMigrations(migrationsDir)}_test`;
  assertTestDatabaseName(template);
  await admin(adminUrl, async (c) => {
    await c.query(`SELECT pg_advisory_lock(hashtext('agentplane:test-template'))`);
    try {
      const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
      if (rowCount) return;
      const building = `${template.slice(0, 50)}_b_test`;
      await c.query(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`);
      await c.query(`CREATE DATABASE ${building}`);
      await migrate({ databaseUrl: withDatabase(adminUrl, building), dir: migrationsDir, log: () => undefined });
      await c.query(`ALTER DATABASE ${building} RENAME TO ${template}`);
      // Templates of this service's earlier migrations are stale now; drop those nobody is cloning.
      const stale = await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1 AND datname <> $2', [`ap_tpl_${svc}_%_test`, template]);
      for (const { datname } of stale.rows) {
        if (/^ap_tpl_[a-z0-9_]+_[0-9a-f]{12}_test$/.test(datname)) await c.query(`DROP DATABASE IF EXISTS ${datname}`).catch(() => undefined);
      }
    } finally {
      await c.query(`SELECT pg_advisory_unlock(hashtext('agentplane:test-template'))`);
    }
  });
  return template;
}

/** A fresh database for one test file, cloned from the migrated template of `service` (CREATE DATABASE … TEMPLATE). */
export async function createTestDatabase(opts: { service: string; migrationsDir: string; adminUrl?: string }): Promise<TestDatabase> {
  const adminUrl = opts.adminUrl ?? DEFAULT_ADMIN_URL;
  const template = await ensureTemplate(opts.service, opts.migrationsDir, adminUrl);
  const name = `ap_${opts.service.replace(/[^a-z0-9]/g, '_')}_${randomBytes(5).toString('hex')}_test`;
  assertTestDatabaseName(name);
  await admin(adminUrl, (c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
  return {
    name,
    url: withDatabase(adminUrl, name),
    drop: () =>
      admin(adminUrl, async (c) => {
        // A pool the test just ended still has sessions closing; forcing them now hands those clients a FATAL
        // (57P01) as an 'error' event nobody listens to any more, which fails the test file. Let them go first.
        for (let i = 0; i < 40; i++) {
          const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
          if (rows[0].n === 0) break;
          await new Promise((r) => setTimeout(r, 25));
        }
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }),
  };
}
