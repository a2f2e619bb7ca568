import type { DynamicModule } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import type { PrismaPg } from '@prisma/adapter-pg';
import type { z } from 'zod';
import { AuthModule, authEnvSchema, toAuthConfig, type AuthConfig } from '@agentplane/auth';
import { IdempotencyModule, idempotencyEnvSchema, toIdempotencyConfig, type IdempotencyConfig } from '@agentplane/idempotency';
import { MessagingModule, NATS_CONNECTION, pingNats } from '@agentplane/messaging';
import { HealthModule, MetricsModule, READINESS_CHECKS, loggingModule, serviceEnvSchema, toServiceConfig, type ServiceBaseConfig } from '@agentplane/observability';
import { SqlPool, pingDatabase, prismaModule } from '@agentplane/persistence';

/** The env variables of every service with a database: the shared ones, token verification, idempotency keys. */
export function databaseServiceEnvSchema(defaults: { httpPort: number; databaseName: string }) {
  return serviceEnvSchema(defaults).and(authEnvSchema).and(idempotencyEnvSchema);
}

/** The config every service with a database starts with (what `serviceShell` needs). */
export interface DatabaseServiceConfig extends ServiceBaseConfig {
  auth: AuthConfig;
  /** IDEMPOTENCY_TTL_SECONDS (1 h–7 d, default 24 h), IDEMPOTENCY_LEASE_SECONDS, IDEMPOTENCY_REQUIRED, IDEMPOTENCY_SWEEP_INTERVAL_SECONDS, IDEMPOTENCY_PACKED_RESPONSES. */
  idempotency: IdempotencyConfig;
}

export function toDatabaseServiceConfig(e: z.infer<ReturnType<typeof databaseServiceEnvSchema>>): DatabaseServiceConfig {
  return { ...toServiceConfig(e), auth: toAuthConfig(e), idempotency: toIdempotencyConfig(e) };
}

interface ServiceClient {
  $disconnect(): Promise<void>;
  $queryRawUnsafe(sql: string): Promise<unknown>;
}

export interface ServiceShellOptions<C extends ServiceClient> {
  service: string;
  config: DatabaseServiceConfig;
  /** The service's own Prisma client class: provided under itself as the injection token. */
  client: new (opts: { adapter: PrismaPg }) => C;
  /** Tests capture the logs of one app here; stdout otherwise. */
  logDestination?: NodeJS.WritableStream;
}

/**
 * The modules every service with a database starts with (DESIGN §10): pino logs, Prometheus metrics, NATS (client,
 * error filter), token verification and access rules, its own Prisma client, idempotency keys in its database,
 * and /healthz + /readyz checking that database and NATS. A service adds its own controllers and providers.
 */
export function serviceShell<C extends ServiceClient>(opts: ServiceShellOptions<C>): DynamicModule[] {
  const { service, config, client } = opts;
  return [
    loggingModule({ service, level: config.logLevel, destination: opts.logDestination }),
    MetricsModule.forRoot(service),
    MessagingModule.forRoot({ ...config.nats, name: service }),
    AuthModule.forRoot(config.auth),
    prismaModule(client, { url: config.database.url, poolMax: config.database.poolMax }),
    // Claims and sweeps on plain pg (SqlPool); a use case completes the key in its own transaction, whichever client.
    IdempotencyModule.forRoot({ client: SqlPool, config: config.idempotency, logLevel: config.logLevel }),
    HealthModule.forRoot({
      provide: READINESS_CHECKS,
      useFactory: (db: C, nc: NatsConnection) => [
        { name: 'database', check: () => pingDatabase(db) },
        { name: 'nats', check: () => pingNats(nc) },
      ],
      inject: [client, NATS_CONNECTION],
    }),
  ];
}
