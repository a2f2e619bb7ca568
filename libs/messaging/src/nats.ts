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
  return connect({ servers: opts.servers.split(','), name: opts.name, maxReconnectAttempts: -1 });
}
