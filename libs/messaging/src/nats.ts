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
  const m = /Permissions Violation for (Publish|Subscription) to "([^"]*)"/i.exec(message);
  if (m) return { operation: m[1]!.toLowerCase() === 'publish' ? 'publish' : 'subscription', subject: m[2]! };
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
  watchViolations(nc, opts.name);
  return nc;
}
