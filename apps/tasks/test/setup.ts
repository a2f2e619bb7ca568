import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '@agentplane/persistence';
import { startTestService, testEnv, type RunningService } from '@agentplane/testing';
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
