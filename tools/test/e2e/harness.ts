import { generateKeyPairSync } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import pg from 'pg';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { natsConnectionOptions } from '@agentplane/messaging';
import { startDevNats, type DevNats } from '@agentplane/nats-security';
import { createTestDatabase, type TestDatabase } from '@agentplane/persistence';
import { NatsCaller } from '@agentplane/testing';
import { createEventsStream } from '../../src/nats-stream.js';
import { SERVICES, freePort, migrationsDir, spawnApp, startStack, type RunningApp, type Stack } from '../../src/stack.js';

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
  /** The environment every app was started with (to start one again), and each app's own on top of it. */
  env: Record<string, string>;
  serviceEnv: Record<string, Record<string, string>>;
  /** The stack's own NATS server (secured with the project's config). */
  nats: DevNats;
  stop(): Promise<void>;
}

export interface BootOptions {
  /**
   * The NATS config exactly as production renders it (prefix '', so e2e.prefix is ''). By default the config is
   * rendered for the prefix '*.' and the stack runs under a private prefix, so a test may start a second authz-proxy
   * under another prefix; identities and permissions are the same otherwise.
   */
  exactConfig?: boolean;
  /** NATS over TLS with a development CA made for this stack. */
  tls?: boolean;
  /** Callers' identities to create up front (the test server knows `test-caller` and `test-caller-b` anyway). */
  callers?: string[];
  /** Test-only identities with permissions of their own (e.g. a man in the middle). */
  extraIdentities?: Parameters<typeof startDevNats>[0]['extraIdentities'];
}

/** A backend calling the stack's services over its NATS server, as an internal caller's identity. */
export async function callerOf(e2e: E2E, identity = 'test-caller'): Promise<NatsCaller> {
  return NatsCaller.over(await natsAs(e2e, identity), e2e.prefix);
}

/** A raw NATS connection to the stack's server as one of its identities. */
export async function natsAs(e2e: E2E, identity: string): Promise<NatsConnection> {
  const id = await e2e.nats.identity(identity);
  const tls = e2e.nats.ca ? { ca: e2e.nats.ca.ca } : undefined;
  return connect({ ...natsConnectionOptions({ servers: e2e.nats.url, prefix: '', name: identity, auth: { nkeySeedFile: id.seedFile, inboxPrefix: id.inboxPrefix, ...(tls ? { tls } : {}) } }), noAsyncTraces: true });
}

/** Boots all five built apps as separate processes, each on a fresh database, under a private subject prefix. */
export async function bootStack(label: string, env: Record<string, string> = {}, opts: BootOptions = {}): Promise<E2E> {
  const prefix = opts.exactConfig ? '' : `${label}_${Math.random().toString(16).slice(2, 10)}.`;
  const natsDir = mkdtempSync(join(tmpdir(), `agentplane-e2e-nats-${label}-`));
  const nats = await startDevNats({ dir: natsDir, prefix: opts.exactConfig ? '' : '*.', tls: opts.tls, callers: ['test-caller', 'test-caller-b', ...(opts.callers ?? [])], extraIdentities: opts.extraIdentities });
  const dbs: Record<string, TestDatabase> = {};
  for (const s of SERVICES) {
    if (s.database) dbs[s.name] = await createTestDatabase({ service: s.name, migrationsDir: migrationsDir(s.name) });
  }
  const serviceEnv: Record<string, Record<string, string>> = {};
  for (const s of SERVICES) serviceEnv[s.name] = { ...(await nats.env(s.name)), ...(dbs[s.name] ? { DATABASE_URL: dbs[s.name]!.url } : {}) };
  const stackEnv = {
    NATS_URL: nats.url,
    NATS_SUBJECT_PREFIX: prefix,
    AUTH_JWT_SECRET: E2E_SECRET,
    AUTH_EXTRA_ISSUERS: JSON.stringify([{ issuer: CI_ISSUER, publicKeyPem: CI_PUBLIC_PEM, audience: 'agentplane', scopeClaim: 'scope' }]),
    LOG_LEVEL: 'info',
    ...env,
  };
  let stack: Stack;
  try {
    // as a deploy does: the stream first, as the ops identity (services only check it), then the services
    await createEventsStream({ ...stackEnv, ...(await nats.env('ops')) });
    stack = await startStack({ env: stackEnv, serviceEnv });
  } catch (err) {
    await Promise.all(Object.values(dbs).map((d) => d.drop()));
    await nats.stop();
    throw err;
  }
  return {
    stack,
    dbs,
    prefix,
    url: stack.gatewayUrl,
    env: stackEnv,
    serviceEnv,
    nats,
    stop: async () => {
      await stack.stop();
      await Promise.all(Object.values(dbs).map((d) => d.drop()));
      // the stack's NATS server and its JetStream store go with it
      await nats.stop();
      rmSync(natsDir, { recursive: true, force: true });
    },
  };
}

export async function call(
  e2e: E2E,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; rawBody?: string | Uint8Array; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; headers: Headers; text: string }> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | Uint8Array | undefined;
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

/**
 * A request whose header lines go out as given: a name with two values is two lines, as a client or proxy may send
 * them (fetch joins them into one line). For what the gateway makes of a header given twice.
 */
export function callWithLines(
  e2e: E2E,
  method: string,
  path: string,
  headers: Record<string, string | string[]>,
  body?: string,
): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${e2e.url}${path}`, { method, headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Starts one of the stack's apps again (a fresh process on a new port, with the stack's environment and `env` on top)
 * after a test stopped it, waits until it is ready, and puts it in the stack (the gateway's url too).
 */
export async function restartApp(e2e: E2E, name: string, env: Record<string, string> = {}): Promise<RunningApp> {
  // under another prefix (a test's), that prefix's stream first, as ops
  if (env.NATS_SUBJECT_PREFIX !== undefined && env.NATS_SUBJECT_PREFIX !== e2e.prefix) await createEventsStream({ ...e2e.env, ...env, ...(await e2e.nats.env('ops')) });
  const app = spawnApp(SERVICES.find((s) => s.name === name)!, await freePort(), { ...e2e.env, ...e2e.serviceEnv[name], ...env });
  await waitFor(() => fetch(`${app.url}/readyz`).then((r) => r.status, () => 0), (s) => s === 200, 20_000);
  e2e.stack.apps[name] = app;
  if (name === 'gateway') e2e.url = app.url;
  return app;
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

/** One query on its own connection (a service's database, read from the outside). */
export async function sqlQuery<T extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}
