import { readFileSync } from 'node:fs';
import { ConnectionError, TimeoutError } from '@nats-io/nats-core';
import { connect, credsAuthenticator, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import type { NatsAuth } from '@agentplane/observability';
import { retryTransient, type TransientRetry } from './retry.js';

export interface NatsOptions {
  servers: string;
  /** Prepended to every subject and stream this process uses (isolates test runs); '' in production. */
  prefix: string;
  /** Connection name, shown by `nats server report connections`. */
  name: string;
  /** The process's NATS identity, inbox prefix and TLS files (DESIGN §2.1); absent = anonymous, refused by a secured server. */
  auth?: NatsAuth;
  /** Replicas of the EVENTS stream (3 in a 3-node cluster); default 1. Only ops tooling creates it (nats:stream). */
  streamReplicas?: number;
  /** A stopping server's wait for the requests in hand (AgentplaneNatsServer.close); default DRAIN_TIMEOUT_MS. */
  drainTimeoutMs?: number;
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

/** The socket errors of a server not (yet) reachable: not listening, restarting, a network or a name not up yet. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EPIPE']);

/**
 * Whether a first connect failed because no server answered (refused, reset, unreachable, not in time), which passes
 * once NATS is up; not a refused identity (AuthorizationError), TLS the server does not offer, or a bad option.
 */
export function isTransientConnectError(err: unknown): boolean {
  if (err instanceof ConnectionError || err instanceof TimeoutError) return true;
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && UNREACHABLE.has(code);
}

/** Where a start-up warning goes before the app's logger is in place: one JSON line on stderr. */
const stderrLogger = (name: string) => ({
  warn: (obj: object, msg: string) => void process.stderr.write(`${JSON.stringify({ level: 40, time: Date.now(), name, ...obj, msg })}\n`),
});

/** Attempts at a first connect: with the default backoff (250 ms doubling to 5 s, full jitter) up to about 40 s. */
export const NATS_CONNECT_ATTEMPTS = 12;

/**
 * A process's first connect to NATS, retried while no server answers ({@link isTransientConnectError};
 * {@link NATS_CONNECT_ATTEMPTS}), so an app started before NATS, or while a node restarts, waits for it instead of
 * exiting. Afterwards nats.js reconnects by itself (`maxReconnectAttempts: -1`). Once attempts run out, the error says
 * which servers and how often.
 */
export async function connectWithRetry(options: ConnectionOptions, retryOpts: TransientRetry = {}): Promise<NatsConnection> {
  const servers = [options.servers ?? []].flat().join(',');
  const attempts = retryOpts.maxAttempts ?? NATS_CONNECT_ATTEMPTS;
  try {
    return await retryTransient(`NATS ${servers}`, () => connect(options), isTransientConnectError, 'NATS did not answer; retrying', {
      logger: stderrLogger(options.name ?? 'nats'),
      ...retryOpts,
      maxAttempts: attempts,
    });
  } catch (err) {
    if (!isTransientConnectError(err)) throw err;
    throw new Error(`NATS at ${servers} did not answer in ${attempts} attempts: ${(err as Error).message}`, { cause: err });
  }
}

export async function connectNats(opts: NatsOptions, retryOpts: TransientRetry = {}): Promise<NatsConnection> {
  // noAsyncTraces: nats.js otherwise builds an Error (a stack capture) for every request up front, in case it times
  // out; that was ~2 % of the gateway's CPU. Timeouts still reject with the same error types, without the caller's stack.
  const nc = await connectWithRetry({ ...natsConnectionOptions(opts), noAsyncTraces: true }, retryOpts);
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
