import { Logger, Module, type DynamicModule, type OnApplicationBootstrap } from '@nestjs/common';
import { Gauge } from 'prom-client';
import type { NatsConnection } from '@nats-io/transport-node';
import type { PrismaPg } from '@prisma/adapter-pg';
import type { z } from 'zod';
import { AuthModule, authEnvSchema, toAuthConfig, type AuthConfig } from '@agentplane/auth';
import { IdempotencyModule, idempotencyEnvSchema, toIdempotencyConfig, type IdempotencyConfig } from '@agentplane/idempotency';
import { MessagingModule, NATS_CONNECTION, pingNats } from '@agentplane/messaging';
import { HealthModule, MetricsModule, MetricsRegistry, READINESS_CHECKS, loggingModule, serviceEnvSchema, toServiceConfig, type ServiceBaseConfig } from '@agentplane/observability';
import { SqlPool, databaseClockSkewSeconds, pingDatabase, prismaModule } from '@agentplane/persistence';

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

@Module({})
class DatabaseClockModule {}

/** Past this, the instance's start says its clock is off (NTP keeps hosts within milliseconds). */
const CLOCK_SKEW_WARN_SECONDS = 1;

/**
 * `database_clock_skew_seconds`: this instance's clock minus its database's, read at each scrape. Some times come
 * from the instance's clock (a task's `createdAt` and default `runAfter`, a retry's `runAfter`) and are compared with
 * the database's (a claim takes a task once `run_after <= now()`), so an instance X seconds ahead delays the tasks it
 * creates by X. Measured once at start too, and warned of past a second.
 */
class DatabaseClock implements OnApplicationBootstrap {
  private readonly logger = new Logger('DatabaseClock');

  constructor(
    private readonly db: ServiceClient,
    registry: MetricsRegistry,
  ) {
    new Gauge({
      name: 'database_clock_skew_seconds',
      help: "This instance's clock minus its database's (clock_timestamp()), in seconds, at the midpoint of one round trip",
      registers: [registry],
      async collect() {
        try {
          this.set(await databaseClockSkewSeconds(db));
        } catch {
          // database unavailable: keep the last value; readiness reports the database
        }
      },
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    const skew = await databaseClockSkewSeconds(this.db).catch(() => undefined);
    if (skew !== undefined && Math.abs(skew) > CLOCK_SKEW_WARN_SECONDS) {
      this.logger.warn(
        { skewSeconds: skew },
        `this instance's clock is ${Math.abs(skew).toFixed(1)} s ${skew > 0 ? 'ahead of' : 'behind'} the database's: the times it writes (a task's createdAt and runAfter) are off by that much${skew > 0 ? ', so the tasks it creates wait that much longer to be claimed' : ''} (sync the host's clock)`,
      );
    }
  }
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
    {
      module: DatabaseClockModule,
      providers: [{ provide: DatabaseClock, useFactory: (db: C, registry: MetricsRegistry) => new DatabaseClock(db, registry), inject: [client, MetricsRegistry] }],
    },
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
