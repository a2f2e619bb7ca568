import { Global, Inject, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats, type NatsOptions } from './nats.js';
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
