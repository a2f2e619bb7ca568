import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '@agentplane/persistence';
import { startTestService, testEnv, type RunningService } from '@agentplane/testing';
import { loadConfig, SERVICE } from '../src/config.js';
import { AppModule } from '../src/app.module.js';

export const MIGRATIONS = fileURLToPath(new URL('../../../prisma/hook-registry/migrations', import.meta.url));

export function registryDatabase(): Promise<TestDatabase> {
  return createTestDatabase({ service: SERVICE, migrationsDir: MIGRATIONS });
}

/** One hook-registry instance on the given database and subject prefix. */
export function startRegistry(db: TestDatabase, prefix: string, env: Record<string, string> = {}): Promise<RunningService> {
  const config = loadConfig(testEnv({ DATABASE_URL: db.url, NATS_SUBJECT_PREFIX: prefix, ...env }, SERVICE));
  return startTestService(AppModule.forRoot(config), { service: SERVICE, prefix });
}

/** An OCI-looking digest made from a label, so tests read `digest('v3')`. */
export function digest(label: string): string {
  return `sha256:${Buffer.from(label.padEnd(32, '.')).toString('hex').slice(0, 64).padEnd(64, '0')}`;
}

export function release(label: string, extra: Record<string, unknown> = {}) {
  return { image: `registry.example.test/hooks/${label}`, digest: digest(label), config: { label }, sourceRef: `git:${label}`, ...extra };
}
