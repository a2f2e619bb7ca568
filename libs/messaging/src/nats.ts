import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import type { NatsAuth } from '@agentplane/observability';

export interface NatsOptions {
  servers: string;
  /** Prepended to every subject and stream this process uses (isolates test runs); '' in production. */
  prefix: string;
  /** Connection name, shown by `nats server report connections`. */
  name: string;
  /** The process's NATS identity, inbox prefix and TLS files (DESIGN §2.1); absent = anonymous, refused by a secured server. */
  auth?: NatsAuth;
  /** Replicas of the EVENTS stream this process creates or updates (3 in a 3-node cluster); default 1. */
  streamReplicas?: number;
}

const PREFIX = /^([A-Za-z0-9_-]+\.)?$/;

export function assertPrefix(prefix: string): string {
  if (!PREFIX.test(prefix)) throw new Error(`NATS subject prefix must match ${PREFIX}: got "${prefix}"`);
  return prefix;
}

/**
 * The connect options every connection of a process shares: servers, name, its identity (an nkey seed or a creds
 * file, read from disk at connect and on every reconnect, so a rotated key is picked up), its own inbox prefix, TLS.
 */
export function natsConnectionOptions(opts: NatsOptions): ConnectionOptions {
  const auth = opts.auth ?? {};
  const file = (path: string) => () => new TextEncoder().encode(readFileSync(path, 'utf8').trim());
  return {
    servers: opts.servers.split(','),
    name: opts.name,
    maxReconnectAttempts: -1,
    ...(auth.nkeySeedFile ? { authenticator: nkeyAuthenticator(file(auth.nkeySeedFile)) } : {}),
    ...(auth.credsFile ? { authenticator: credsAuthenticator(file(auth.credsFile)) } : {}),
    ...(auth.inboxPrefix ? { inboxPrefix: auth.inboxPrefix } : {}),
    ...(auth.tls ? { tls: { ...(auth.tls.ca ? { caFile: auth.tls.ca } : {}), ...(auth.tls.cert ? { certFile: auth.tls.cert, keyFile: auth.tls.key } : {}) } } : {}),
  };
}

/** Called for each permission violation the server reports on a connection (a subscribe or publish it refused). */
export type ViolationListener = (detail: { connection: string; operation: 'publish' | 'subscription' | 'other'; subject: string }) => void;

const violationListeners = new Set<ViolationListener>();

/** Registers a listener for every connection this process opens from now on (metrics); returns the unsubscribe. */
export function onPermissionViolation(listener: ViolationListener): () => void {
  violationListeners.add(listener);
  return () => violationListeners.delete(listener);
}

/** Parses nats-server's "Permissions Violation for Publish to \"x\"" / "… for Subscription to \"x\"". */
export function parseViolation(message: string): { operation: 'publish' | 'subscription' | 'other'; subject: string } | undefined {
  const [, operation, subject] = /Permissions Violation for (Publish|Subscription) to "([^"]*)"/i.exec(message) ?? [];
  if (operation !== undefined && subject !== undefined) return { operation: operation.toLowerCase() === 'publish' ? 'publish' : 'subscription', subject };
  return /permissions violation/i.test(message) ? { operation: 'other', subject: '' } : undefined;
}

/** Watches a connection's status stream and reports permission violations to the listeners. */
export function watchViolations(nc: NatsConnection, connection: string): void {
  void (async () => {
    for await (const s of nc.status()) {
      const text = 'error' in s && s.error ? String(s.error) : '';
      const v = text ? parseViolation(text) : undefined;
      if (v) for (const l of violationListeners) l({ connection, ...v });
    }
  })().catch(() => undefined);
}

export async function connectNats(opts: NatsOptions): Promise<NatsConnection> {
  // noAsyncTraces: nats.js otherwise builds an Error (a stack capture) for every request up front, in case it times
  // out; that was ~2 % of the gateway's CPU. Timeouts still reject with the same error types, without the caller's stack.
  const nc = await connect({ ...natsConnectionOptions(opts), noAsyncTraces: true });
  coalesceWrites(nc);
  watchViolations(nc, opts.name);
  return nc;
}

/** The part of nats.js's protocol handler (@nats-io/nats-core 3.x, `nc.protocol`) that coalesceWrites replaces. */
interface ProtocolInternals {
  outbound?: { length(): number; size(): number; fill(buf: Uint8Array, ...payloads: Uint8Array[]): unknown };
  pendingLimit?: number;
  flushPending?: () => void;
  sendCommand?: (cmd: string | Uint8Array, ...payloads: Uint8Array[]) => void;
}

/**
 * Sends what a connection buffered once per turn of the event loop instead of once per microtask checkpoint
 * (issue 19). nats.js flushes its outgoing buffer in a microtask, and Node drains microtasks after every I/O
 * callback: a service answering 16 requests whose database results arrived in one poll phase made 16 socket writes,
 * each a syscall (the largest single cost in the profiles: docs/performance.md). Flushed from `setImmediate`, the
 * check phase right after that poll phase, they leave in one write, with no added wait. The buffer's own size limit
 * still flushes at once. Returns false (and changes nothing) if the library's internals are not the expected ones.
 */
export function coalesceWrites(nc: NatsConnection): boolean {
  const p = (nc as unknown as { protocol?: ProtocolInternals }).protocol;
  const out = p?.outbound;
  if (!p || !out || typeof p.sendCommand !== 'function' || typeof p.flushPending !== 'function' || typeof out.fill !== 'function') return false;
  const encoder = new TextEncoder();
  let scheduled = false;
  const flushPending = p.flushPending.bind(p);
  const flush = () => {
    scheduled = false;
    flushPending();
  };
  p.sendCommand = (cmd, ...payloads) => {
    out.fill(typeof cmd === 'string' ? encoder.encode(cmd) : cmd, ...payloads);
    if (out.size() >= (p.pendingLimit ?? 32 * 1024)) flushPending();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return true;
}
