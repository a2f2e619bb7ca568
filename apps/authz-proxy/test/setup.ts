import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { readMetric } from '@agentplane/observability';
import { createTestDatabase, type TestDatabase } from '@agentplane/persistence';
import { NatsCaller, startTestService, testEnv, type RunningService } from '@agentplane/testing';
import { loadConfig, SERVICE } from '../src/config.js';
import { AppModule } from '../src/app.module.js';

export const MIGRATIONS = fileURLToPath(new URL('../../../prisma/authz-proxy/migrations', import.meta.url));

export function authzDatabase(): Promise<TestDatabase> {
  return createTestDatabase({ service: SERVICE, migrationsDir: MIGRATIONS });
}

/** One authz-proxy instance on the given database and subject prefix (events consumer off unless asked for). */
export function startAuthz(db: TestDatabase, prefix: string, env: Record<string, string> = {}, logDestination?: NodeJS.WritableStream): Promise<RunningService> {
  const config = loadConfig(testEnv({ DATABASE_URL: db.url, NATS_SUBJECT_PREFIX: prefix, AUTHZ_EVENTS: 'off', ...env }, SERVICE));
  return startTestService(AppModule.forRoot(config, { logDestination }), { service: SERVICE, prefix });
}

/** A direct connection to the test database, to look at (or sabotage) what the service wrote. */
export async function sql(db: TestDatabase): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  return c;
}

/** The tuples of a resource as `relation@subject`, sorted. */
export async function tuplesOf(c: pg.Client, resource: string): Promise<string[]> {
  const { rows } = await c.query<{ t: string }>('SELECT relation || \'@\' || subject AS t FROM tuples WHERE resource = $1 ORDER BY 1', [resource]);
  return rows.map((r) => r.t);
}

/** Calls an authz subject and returns the envelope's data, failing the test on an error reply. */
export async function ok<T = unknown>(caller: NatsCaller, subject: string, body: unknown, token: string): Promise<T> {
  const res = await caller.request(subject, body, { token });
  if (!res.body.ok) throw new Error(`${subject} failed: ${JSON.stringify(res.body.error)}`);
  return res.body.data as T;
}

/** The error code of a call expected to fail. */
export async function errorCode(caller: NatsCaller, subject: string, body: unknown, token: string): Promise<string> {
  const res = await caller.request(subject, body, { token });
  return res.body.ok ? 'OK' : res.body.error!.code;
}

/** A metric's value (summed over matching label sets) from an instance's /metrics. */
export function metric(svc: RunningService, name: string, labels: Record<string, string> = {}): Promise<number> {
  return readMetric(svc.url, name, labels);
}

/** Reads `get()` every 50 ms until `done` says so or `timeoutMs` passes; returns the last value read. */
export async function waitFor<T>(get: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await get();
  while (!done(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    v = await get();
  }
  return v;
}

/** A check's decision without its revision (tests of who may do what; the revision has tests of its own). */
export function decisionOf(reply: { allowed: boolean; reason: string; revision?: string }): { allowed: boolean; reason: string } {
  return { allowed: reply.allowed, reason: reply.reason };
}
