import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevNats } from '@agentplane/nats-security';
import { createTestDatabase, type TestDatabase } from '@agentplane/persistence';
// the built stack runner (tools/src/stack.ts); tools/test/e2e/harness.ts does the same but pulls in Jest's globals
import { createEventsStream } from '../../../tools/dist/nats-stream.js';
import { SERVICES, migrationsDir, startStack } from '../../../tools/dist/stack.js';

const SECRET = `console-e2e-${randomBytes(16).toString('hex')}`;

/**
 * Boots the real stack as bootStack does: all five built apps as processes, a secured NATS and fresh test databases
 * of their own, under a private subject prefix. The gateway serves the built console at /console. Specs seed through
 * the REST API with tokens signed by the stack's secret.
 */
export default async function globalSetup(): Promise<() => Promise<void>> {
  const prefix = `console_e2e_${randomBytes(4).toString('hex')}.`;
  const natsDir = mkdtempSync(join(tmpdir(), 'agentplane-console-e2e-nats-'));
  const nats = await startDevNats({ dir: natsDir, prefix: '*.' });
  const dbs: Record<string, TestDatabase> = {};
  const stop = async (stack?: { stop(): Promise<void> }) => {
    await stack?.stop();
    await Promise.all(Object.values(dbs).map((d) => d.drop()));
    await nats.stop();
    rmSync(natsDir, { recursive: true, force: true });
  };
  try {
    for (const s of SERVICES) if (s.database) dbs[s.name] = await createTestDatabase({ service: s.name, migrationsDir: migrationsDir(s.name) });
    const serviceEnv: Record<string, Record<string, string>> = {};
    for (const s of SERVICES) serviceEnv[s.name] = { ...(await nats.env(s.name)), ...(dbs[s.name] ? { DATABASE_URL: dbs[s.name]!.url } : {}) };
    // the stream first, as the ops identity (services only check it)
    await createEventsStream({ NATS_SUBJECT_PREFIX: prefix, ...(await nats.env('ops')) });
    const stack = await startStack({ env: { NATS_URL: nats.url, NATS_SUBJECT_PREFIX: prefix, AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'warn' }, serviceEnv });
    process.env.CONSOLE_E2E_URL = stack.gatewayUrl;
    process.env.CONSOLE_E2E_SECRET = SECRET;
    return () => stop(stack);
  } catch (err) {
    await stop();
    throw err;
  }
}
