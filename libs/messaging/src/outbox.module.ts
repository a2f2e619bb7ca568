import { Inject, Injectable, Logger, Module, type BeforeApplicationShutdown, type DynamicModule, type InjectionToken, type OnApplicationBootstrap } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { MetricsRegistry } from '@agentplane/observability';
import { awaitEventsStream, type EventsStreamOptions } from './jetstream.js';
import { NATS_CONNECTION, NATS_OPTIONS } from './messaging.module.js';
import type { NatsOptions } from './nats.js';
import { OUTBOX_RETENTION_DEFAULT_HOURS, OutboxRelay, type OutboxClient } from './outbox.js';

/**
 * `OUTBOX_RELAY=on|off` (default on): run the relay in this process, or leave it to relays elsewhere.
 * `OUTBOX_RETENTION_HOURS` (default 168, 0 keeps every row): how long a published row stays before the relay deletes it.
 */
export const outboxEnvSchema = z.object({
  OUTBOX_RELAY: z.enum(['on', 'off']).default('on'),
  OUTBOX_RETENTION_HOURS: z.coerce.number().int().min(0).max(87_600).default(OUTBOX_RETENTION_DEFAULT_HOURS),
});

export interface OutboxConfig {
  outboxRelay: boolean;
  outboxRetentionHours: number;
}

/** The outbox part of a service's config, from its parsed environment. */
export function toOutboxConfig(e: z.infer<typeof outboxEnvSchema>): OutboxConfig {
  return { outboxRelay: e.OUTBOX_RELAY === 'on', outboxRetentionHours: e.OUTBOX_RETENTION_HOURS };
}

export interface OutboxModuleOptions {
  /**
   * The injection token of the client the relay runs its batches on: `SqlPool` (plain pg, what the services use) or
   * the service's Prisma client class; both are provided by `prismaModule`.
   */
  clientToken: InjectionToken;
  /** Start the relay with the app (the service's `OUTBOX_RELAY=on|off`). Default true. */
  enabled?: boolean;
  /** Subject prefix; default the one given to MessagingModule.forRoot. */
  prefix?: string;
  batchSize?: number;
  pollIntervalMs?: number;
  publishTimeoutMs?: number;
  /** Hours a published row is kept (the service's OUTBOX_RETENTION_HOURS); 0 keeps every row. Default OUTBOX_RETENTION_DEFAULT_HOURS. */
  retentionHours?: number;
  /** PostgreSQL URL to LISTEN for `writeOutbox(…, {notify: true})` wake-ups (optional). */
  listenUrl?: string;
  /**
   * Check the events stream before the first batch (awaitEventsStream: never creates it, operators do). Default true.
   */
  ensureStream?: boolean;
  stream?: EventsStreamOptions;
}

const OUTBOX_OPTIONS = Symbol('OUTBOX_OPTIONS');

@Injectable()
class OutboxRelayLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    @Inject(OutboxRelay) private readonly relay: OutboxRelay,
    @Inject(OUTBOX_OPTIONS) private readonly opts: OutboxModuleOptions,
  ) {}

  onApplicationBootstrap(): void {
    if (this.opts.enabled !== false) this.relay.start();
  }

  // Before onApplicationShutdown, where NATS drains and Prisma disconnects: the batch in hand is finished first.
  async beforeApplicationShutdown(): Promise<void> {
    await this.relay.stop();
  }
}

/**
 * Runs an OutboxRelay with the app: started on bootstrap (unless `enabled: false`), stopped before NATS drains.
 * Needs MessagingModule (NATS connection) and the service's Prisma module; registers the outbox metrics on the
 * app's MetricsRegistry when MetricsModule is present. Exports OutboxRelay (call `wake()` after a commit).
 */
@Module({})
export class OutboxModule {
  static forRoot(opts: OutboxModuleOptions): DynamicModule {
    return {
      module: OutboxModule,
      providers: [
        { provide: OUTBOX_OPTIONS, useValue: opts },
        {
          provide: OutboxRelay,
          useFactory: (client: OutboxClient, nc: NatsConnection, nats: NatsOptions, registry?: MetricsRegistry) => {
            const prefix = opts.prefix ?? nats.prefix;
            const logger = new Logger('OutboxRelay');
            return new OutboxRelay({
              client,
              nc,
              prefix,
              batchSize: opts.batchSize,
              pollIntervalMs: opts.pollIntervalMs,
              publishTimeoutMs: opts.publishTimeoutMs,
              retentionHours: opts.retentionHours,
              listenUrl: opts.listenUrl,
              registry,
              logger,
              ensureStream: opts.ensureStream === false ? undefined : () => awaitEventsStream(nc, prefix, { ...opts.stream, retry: { logger } }),
            });
          },
          inject: [opts.clientToken, NATS_CONNECTION, NATS_OPTIONS, { token: MetricsRegistry, optional: true }],
        },
        OutboxRelayLifecycle,
      ],
      exports: [OutboxRelay],
    };
  }
}
