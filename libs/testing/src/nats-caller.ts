import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { ensureEventsStream, natsConnectionOptions } from '@agentplane/messaging';
import type { NatsAuth } from '@agentplane/observability';
import { inboxPrefixOf } from '@agentplane/nats-security';

/**
 * The jest run's own NATS server, secured with the project's config (tools/jest/nats-global-setup.mjs); the machine's
 * open server only when a test file runs without that setup.
 */
export const NATS_URL = process.env['AGENTPLANE_TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const NATS_DIR = process.env['AGENTPLANE_TEST_NATS_DIR'];

/** That identity's seed file and inbox prefix on the secured test server; undefined on the machine's open server. */
function testIdentity(identity: string): { nkeySeedFile: string; inboxPrefix: string } | undefined {
  if (!NATS_DIR) return undefined;
  return { nkeySeedFile: join(NATS_DIR, 'identities', `${identity}.nk`), inboxPrefix: inboxPrefixOf(identity) };
}

/** How a process of that identity authenticates to the test server (its seed file and inbox prefix). */
export function testNatsAuth(identity: string): NatsAuth {
  return testIdentity(identity) ?? {};
}

/** The environment variables of that identity, for an app's config (`testEnv(extra, 'tasks')`). */
export function testNatsEnv(identity: string): Record<string, string> {
  const id = testIdentity(identity);
  return { NATS_URL, ...(id ? { NATS_NKEY_SEED_FILE: id.nkeySeedFile, NATS_INBOX_PREFIX: id.inboxPrefix } : {}) };
}

/** A raw connection to the test server as that identity (a service's, `test-caller`, `ops`, …). */
export function connectAs(identity: string, name = identity): Promise<NatsConnection> {
  return connect({ ...natsConnectionOptions({ servers: NATS_URL, prefix: '', name, auth: testNatsAuth(identity) }), noAsyncTraces: true });
}

/**
 * Creates (or updates) a prefix's events stream as operators do, as the `ops` identity: services only check it
 * (DESIGN §2.1). The test-file clean-up deletes it.
 */
export async function ensureTestEventsStream(prefix: string): Promise<void> {
  usedPrefixes.add(prefix);
  const nc = await connectAs('ops', 'test-ops-stream');
  try {
    await ensureEventsStream(nc, prefix);
  } finally {
    await nc.close();
  }
}

/** Every prefix handed out in this test file; their JetStream streams are deleted when the file ends. */
export const usedPrefixes = new Set<string>();

/** A subject prefix unique to this test file, so files run in parallel on one NATS server. */
export function testPrefix(label = 't'): string {
  const prefix = `${label.replace(/[^A-Za-z0-9_-]/g, '_')}_${randomBytes(4).toString('hex')}.`;
  usedPrefixes.add(prefix);
  return prefix;
}

export interface RawReply {
  body: { ok: boolean; data?: unknown; error?: { code: string; message: string; details?: unknown; errorId?: string } };
  headers: Record<string, string>;
}

/**
 * A backend calling a service directly over NATS, as any language would: plain JSON body, headers for the token,
 * idempotency key and request id. No Agentplane client code involved.
 */
export class NatsCaller {
  private constructor(
    readonly nc: NatsConnection,
    readonly prefix: string,
  ) {}

  /** A caller over a connection made elsewhere (an e2e stack's own NATS server). */
  static over(nc: NatsConnection, prefix: string): NatsCaller {
    return new NatsCaller(nc, prefix);
  }

  /** Connects as an internal caller's identity (`test-caller` by default; the test server knows `test-caller-b` too). */
  static async connect(prefix: string, identity = 'test-caller'): Promise<NatsCaller> {
    return new NatsCaller(await connectAs(identity, identity), prefix);
  }

  /** `headers`: more lines, each appended (a name given twice is two values, as a NATS client may send them). */
  async request(
    subject: string,
    body: unknown,
    opts: { token?: string; idempotencyKey?: string; raw?: string | Uint8Array; timeoutMs?: number; headers?: Array<[string, string]> } = {},
  ): Promise<RawReply> {
    const h = natsHeaders();
    if (opts.token) h.set('authorization', `Bearer ${opts.token}`);
    if (opts.idempotencyKey) h.set('idempotency-key', opts.idempotencyKey);
    for (const [k, v] of opts.headers ?? []) h.append(k, v);
    const msg = await this.nc.request(`${this.prefix}${subject}`, opts.raw ?? JSON.stringify(body), { headers: h, timeout: opts.timeoutMs ?? 5000 });
    const headers: Record<string, string> = {};
    if (msg.headers) for (const [k, v] of msg.headers) headers[k.toLowerCase()] = v.join(',');
    return { body: msg.json(), headers };
  }

  async close(): Promise<void> {
    await this.nc.drain();
  }
}
