import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@agentplane/persistence';
import { deleteEventsStream } from '@agentplane/messaging';
import { NatsCaller, startTestService, testEnv, type RunningService } from '@agentplane/testing';
import { loadConfig, SERVICE } from '../src/config.js';
import { AppModule } from '../src/app.module.js';

export const MIGRATIONS = fileURLToPath(new URL('../../../prisma/tasks/migrations', import.meta.url));

export function tasksDatabase(): Promise<TestDatabase> {
  return createTestDatabase({ service: SERVICE, migrationsDir: MIGRATIONS });
}

/** One tasks instance on the given database and subject prefix. */
export function startTasks(db: TestDatabase, prefix: string, env: Record<string, string> = {}, logDestination?: NodeJS.WritableStream): Promise<RunningService> {
  const config = loadConfig(testEnv({ DATABASE_URL: db.url, NATS_SUBJECT_PREFIX: prefix, ...env }, SERVICE));
  return startTestService(AppModule.forRoot(config, { logDestination }), { service: SERVICE, prefix });
}

/** What a tasks integration test works with: its own database, the instances on it, a NATS caller and a SQL client. */
export interface TasksHarness {
  db: TestDatabase;
  instances: RunningService[];
  /** The first instance. */
  svc: RunningService;
  caller: NatsCaller;
  sql: pg.Client;
  /** Stops what was started (after a failed start too) and drops the database. */
  close(): Promise<void>;
}

/** A fresh database, `instances` tasks instances on it (default 1) with `env`, a NATS caller and a SQL client. */
export async function startTasksHarness(prefix: string, opts: { env?: Record<string, string>; instances?: number } = {}): Promise<TasksHarness> {
  const db = await tasksDatabase();
  const instances: RunningService[] = [];
  let caller: NatsCaller | undefined;
  let sql: pg.Client | undefined;
  const close = async () => {
    await sql?.end();
    for (const s of instances) await s.close();
    if (caller) await deleteEventsStream(caller.nc, prefix).catch(() => undefined);
    await caller?.close();
    await db.drop();
  };
  try {
    for (let i = 0; i < (opts.instances ?? 1); i++) instances.push(await startTasks(db, prefix, opts.env));
    caller = await NatsCaller.connect(prefix);
    const client = new pg.Client({ connectionString: db.url });
    sql = client;
    await client.connect();
    return { db, instances, svc: instances[0]!, caller, sql: client, close };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}
