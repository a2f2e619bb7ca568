import { Global, Inject, Module, Optional, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { NatsConnection } from '@nats-io/transport-node';
import { Counter } from 'prom-client';
import { MetricsRegistry } from '@agentplane/observability';
import { connectNats, onPermissionViolation, type NatsOptions } from './nats.js';
import { RpcClient } from './rpc-client.js';
import { ErrorFilter } from './error.filter.js';

export const NATS_CONNECTION = Symbol('NATS_CONNECTION');
export const NATS_OPTIONS = Symbol('NATS_OPTIONS');

class NatsLifecycle implements OnApplicationShutdown {
  constructor(@Inject(NATS_CONNECTION) private readonly nc: NatsConnection) {}

  async onApplicationShutdown(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => undefined);
  }
}

/**
 * Counts the permission violations NATS reports on this process's connections (the server logs them too): a
 * non-zero `nats_permission_violations_total` means a process tried a subject its identity may not use.
 */
class NatsViolationMetrics implements OnApplicationShutdown {
  private readonly off: () => void;

  constructor(@Optional() registry?: MetricsRegistry) {
    const counter = registry
      ? ((registry.getSingleMetric('nats_permission_violations_total') as Counter<'connection' | 'operation'> | undefined) ??
        new Counter({
          name: 'nats_permission_violations_total',
          help: 'Permission violations reported by the NATS server on this process\'s connections, by connection and operation',
          labelNames: ['connection', 'operation'],
          registers: [registry],
        }))
      : undefined;
    this.off = onPermissionViolation(({ connection, operation }) => counter?.inc({ connection, operation }));
  }

  onApplicationShutdown(): void {
    this.off();
  }
}

/** The app's outgoing NATS connection (requests to other services, JetStream) and the shared error filter. */
@Global()
@Module({})
export class MessagingModule {
  static forRoot(opts: NatsOptions & { requestTimeoutMs?: number }): DynamicModule {
    return {
      module: MessagingModule,
      providers: [
        { provide: NATS_OPTIONS, useValue: opts },
        { provide: NATS_CONNECTION, useFactory: () => connectNats({ ...opts, name: `${opts.name}-client` }) },
        {
          provide: RpcClient,
          useFactory: (nc: NatsConnection) => new RpcClient(nc, opts.prefix, opts.requestTimeoutMs),
          inject: [NATS_CONNECTION],
        },
        NatsLifecycle,
        NatsViolationMetrics,
        { provide: APP_FILTER, useClass: ErrorFilter },
      ],
      exports: [NATS_CONNECTION, NATS_OPTIONS, RpcClient],
    };
  }
}

/** Readiness of a NATS connection: open and answering a round trip to the server. */
export async function pingNats(nc: NatsConnection): Promise<void> {
  if (nc.isClosed()) throw new Error('NATS connection is closed');
  await nc.flush();
}
