import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '@agentplane/persistence';
import { testPrefix } from './nats-caller.js';
import { startTestService, testEnv, type RunningService } from './service.js';

export interface ServiceSuiteOptions {
  service: string;
  migrationsDir: string;
  /** The app's root module for an environment (`(env) => AppModule.forRoot(loadConfig(env))`). */
  module: (env: Record<string, string | undefined>) => unknown;
}

/**
 * The checks every service with a database passes on its own: ready (database + NATS) on a fresh database, metrics
 * labelled with its name, and honestly not ready while its database cannot be reached.
 */
export function describeServiceStartsAlone(opts: ServiceSuiteOptions): void {
  describe(`${opts.service} starts alone`, () => {
    let db: TestDatabase;
    let svc: RunningService;
    const label = opts.service.replace(/-/g, '_');

    beforeAll(async () => {
      db = await createTestDatabase({ service: opts.service, migrationsDir: opts.migrationsDir });
      const prefix = testPrefix(label);
      svc = await startTestService(opts.module(testEnv({ DATABASE_URL: db.url, NATS_SUBJECT_PREFIX: prefix }, opts.service)), { service: opts.service, prefix });
    });

    afterAll(async () => {
      await svc?.close();
      await db?.drop();
    });

    it('is ready when its database and NATS answer, and serves metrics', async () => {
      const ready = await fetch(`${svc.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ok', info: { database: { status: 'up' }, nats: { status: 'up' } } });
      expect(await (await fetch(`${svc.url}/metrics`)).text()).toContain(`service="${opts.service}"`);
    });

    it('answers /readyz 503 (and /healthz 200) while its database is unreachable', async () => {
      const prefix = testPrefix(label);
      // nothing listens on port 1: every connection attempt is refused
      const env = testEnv({ DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/ap_unreachable_test', NATS_SUBJECT_PREFIX: prefix, LOG_LEVEL: 'silent' }, opts.service);
      const down = await startTestService(opts.module(env), { service: opts.service, prefix });
      try {
        const ready = await fetch(`${down.url}/readyz`);
        expect(ready.status).toBe(503);
        expect(await ready.json()).toMatchObject({ status: 'error', error: { database: { status: 'down' } } });
        expect((await fetch(`${down.url}/healthz`)).status).toBe(200);
      } finally {
        await down.close();
      }
    });
  });
}
