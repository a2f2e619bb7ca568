import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@agentplane/persistence';
import { startTestService, testEnv, type RunningService } from '@agentplane/testing';
import { loadConfig, SERVICE } from '../src/config.js';
import { AppModule } from '../src/app.module.js';

export const MIGRATIONS = fileURLToPath(new URL('../../../prisma/workspace-installer/migrations', import.meta.url));

export function installerDatabase(): Promise<TestDatabase> {
  return createTestDatabase({ service: SERVICE, migrationsDir: MIGRATIONS });
}

/** One workspace-installer instance on the given database and subject prefix. */
export function startInstaller(db: TestDatabase, prefix: string, env: Record<string, string> = {}): Promise<RunningService> {
  const config = loadConfig(testEnv({ DATABASE_URL: db.url, NATS_SUBJECT_PREFIX: prefix, ...env }, SERVICE));
  return startTestService(AppModule.forRoot(config), { service: SERVICE, prefix });
}

/** A direct connection for assertions and for holding locks the way a concurrent transaction would. */
export async function sqlClient(db: TestDatabase): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: db.url, application_name: 'workspace-installer-test' });
  await c.connect();
  return c;
}

export interface TreeRow {
  id: string;
  parent_id: string | null;
  name: string;
  kind: string;
  status: string;
}

/** The org's workspaces and allowlist as stored, to compare before/after. */
export async function snapshot(c: pg.Client, orgId: string): Promise<{ workspaces: TreeRow[]; allowlist: unknown[] }> {
  const workspaces = await c.query<TreeRow>(
    `SELECT id::text, parent_id::text, name, kind, status, updated_at FROM workspaces WHERE org_id = $1 ORDER BY id`,
    [orgId],
  );
  const allowlist = await c.query(
    `SELECT a.root_workspace_id::text, a.plugin, a.enabled_by, a.enabled_at FROM org_plugin_allowlist a
       JOIN workspaces w ON w.id = a.root_workspace_id WHERE w.org_id = $1 ORDER BY 1, 2`,
    [orgId],
  );
  return { workspaces: workspaces.rows, allowlist: allowlist.rows };
}

export async function liveRoots(c: pg.Client, orgId: string): Promise<TreeRow[]> {
  const r = await c.query<TreeRow>(
    `SELECT id::text, parent_id::text, name, kind, status FROM workspaces
      WHERE org_id = $1 AND parent_id IS NULL AND status <> 'removed' ORDER BY name`,
    [orgId],
  );
  return r.rows;
}

/** Polls until some backend of this database waits on a lock while running a statement matching `query`. */
export async function waitForLockWait(c: pg.Client, query: RegExp, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await c.query<{ query: string }>(
      `SELECT query FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
    );
    if (r.rows.some((row) => query.test(row.query))) return;
    if (Date.now() > end) throw new Error(`no backend waited on a lock for ${query}; waiting: ${JSON.stringify(r.rows)}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** Settles to 'pending' if the promise has not settled within `ms`. */
export async function stateAfter(p: Promise<unknown>, ms: number): Promise<'settled' | 'pending'> {
  return Promise.race([p.then(() => 'settled' as const, () => 'settled' as const), new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))]);
}
