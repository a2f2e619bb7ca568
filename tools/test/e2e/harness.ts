import { generateKeyPairSync } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { deleteEventsStream } from '@agentplane/messaging';
import { createTestDatabase, type TestDatabase } from '@agentplane/persistence';
import { SERVICES, migrationsDir, startStack, type Stack } from '../../src/stack.js';

export const E2E_SECRET = 'e2e-secret-0123456789-abcdefghijkl';
export const CI_ISSUER = 'https://ci.example.test';

/** An extra (M2M) issuer: Ed25519 key pair; the stack trusts its public key. */
export const ciKeys = generateKeyPairSync('ed25519');
export const CI_PUBLIC_PEM = ciKeys.publicKey.export({ type: 'spki', format: 'pem' }).toString();

export interface E2E {
  stack: Stack;
  dbs: Record<string, TestDatabase>;
  prefix: string;
  url: string;
  /** The environment every app was started with (to start one again). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Boots all five built apps as separate processes, each on a fresh database, under a private subject prefix. */
export async function bootStack(label: string, env: Record<string, string> = {}): Promise<E2E> {
  const prefix = `${label}_${Math.random().toString(16).slice(2, 10)}.`;
  const dbs: Record<string, TestDatabase> = {};
  for (const s of SERVICES) {
    if (s.database) dbs[s.name] = await createTestDatabase({ service: s.name, migrationsDir: migrationsDir(s.name) });
  }
  const serviceEnv = Object.fromEntries(Object.entries(dbs).map(([name, db]) => [name, { DATABASE_URL: db.url }]));
  const stackEnv = {
    NATS_URL: 'nats://127.0.0.1:4222',
    NATS_SUBJECT_PREFIX: prefix,
    AUTH_JWT_SECRET: E2E_SECRET,
    AUTH_EXTRA_ISSUERS: JSON.stringify([{ issuer: CI_ISSUER, publicKeyPem: CI_PUBLIC_PEM, audience: 'agentplane', scopeClaim: 'scope' }]),
    LOG_LEVEL: 'info',
    ...env,
  };
  let stack: Stack;
  try {
    stack = await startStack({ env: stackEnv, serviceEnv });
  } catch (err) {
    await Promise.all(Object.values(dbs).map((d) => d.drop()));
    throw err;
  }
  return {
    stack,
    dbs,
    prefix,
    url: stack.gatewayUrl,
    env: stackEnv,
    stop: async () => {
      await stack.stop();
      await Promise.all(Object.values(dbs).map((d) => d.drop()));
      // the test run's JetStream stream goes with it
      const nc = await connect({ servers: stackEnv.NATS_URL });
      await deleteEventsStream(nc, prefix).catch(() => undefined);
      await nc.close();
    },
  };
}

export async function call(
  e2e: E2E,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; headers: Headers; text: string }> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  const res = await fetch(`${e2e.url}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, headers: res.headers, text };
}

/** Polls `get` until `ok` holds or `timeoutMs` passes; returns the last value either way. */
export async function waitFor<T>(get: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await get();
  while (!ok(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    v = await get();
  }
  return v;
}
