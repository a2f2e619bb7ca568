import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '@agentplane/persistence';
import { startTestService, testEnv, testPrefix, type RunningService } from '@agentplane/testing';
import { loadConfig, SERVICE } from '../src/config.js';
import { AppModule } from '../src/app.module.js';

const MIGRATIONS = fileURLToPath(new URL('../../../prisma/hook-registry/migrations', import.meta.url));

describe('hook-registry starts alone', () => {
  let db: TestDatabase;
  let svc: RunningService;

  beforeAll(async () => {
    db = await createTestDatabase({ service: SERVICE, migrationsDir: MIGRATIONS });
    const prefix = testPrefix('hook-registry'.replace(/-/g, '_'));
    svc = await startTestService(AppModule.forRoot(loadConfig(testEnv({ DATABASE_URL: db.url, NATS_SUBJECT_PREFIX: prefix }))), { service: SERVICE, prefix });
  });

  afterAll(async () => {
    await svc?.close();
    await db?.drop();
  });

  it('is ready when its database and NATS answer, and serves metrics', async () => {
    const ready = await fetch(`${svc.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ok', info: { database: { status: 'up' }, nats: { status: 'up' } } });
    expect(await (await fetch(`${svc.url}/metrics`)).text()).toContain('service="hook-registry"');
  });
});
