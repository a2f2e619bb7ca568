import { connect, type NatsConnection } from '@nats-io/transport-node';

export interface NatsOptions {
  servers: string;
  /** Prepended to every subject and stream this process uses (isolates test runs); '' in production. */
  prefix: string;
  /** Connection name, shown by `nats server report connections`. */
  name: string;
}

const PREFIX = /^([A-Za-z0-9_-]+\.)?$/;

export function assertPrefix(prefix: string): string {
  if (!PREFIX.test(prefix)) throw new Error(`NATS subject prefix must match ${PREFIX}: got "${prefix}"`);
  return prefix;
}

export async function connectNats(opts: NatsOptions): Promise<NatsConnection> {
  // noAsyncTraces: nats.js otherwise builds an Error (a stack capture) for every request up front, in case it times
  // out; that was ~2 % of the gateway's CPU. Timeouts still reject with the same error types, without the caller's stack.
  return connect({ servers: opts.servers.split(','), name: opts.name, maxReconnectAttempts: -1, noAsyncTraces: true });
}
