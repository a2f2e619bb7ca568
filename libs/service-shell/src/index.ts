import { Logger, Module, type DynamicModule, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Gauge } from 'prom-client';
import type { NatsConnection } from '@nats-io/transport-node';
import type { PrismaPg } from '@prisma/adapter-pg';
import type { z } from 'zod';
import { AuthModule, authEnvSchema, toAuthConfig, type AuthConfig } from '@agentplane/auth';
import { IdempotencyModule, idempotencyEnvSchema, toIdempotencyConfig, type IdempotencyConfig } from '@agentplane/idempotency';
import { MessagingModule, NATS_CONNECTION, pingNats } from '@agentplane/messaging';
import { HealthModule, MetricsModule, MetricsRegistry, READINESS_CHECKS, loggingModule, serviceEnvSchema, toServiceConfig, type ServiceBaseConfig } from '@agentplane/observability';
import { SqlPool, databaseClockReading, pingDatabase, prismaModule } from '@agentplane/persistence';

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

/**
 * Past this, the instance's start says its clock is off (NTP keeps hosts within milliseconds), and DatabaseClock.now()
 * reads the database's time instead of the instance's.
 */
const CLOCK_SKEW_WARN_SECONDS = 1;

/** How often DatabaseClock measures again (besides each scrape), so a clock that jumps is followed within this. */
const CLOCK_MEASURE_INTERVAL_MS = 30_000;

/**
 * This instance's clock against its database's. `database_clock_skew_seconds` is the instance's clock minus the
 * database's, measured at each scrape, at start (with a warning past a second) and every 30 s. `now()` is the time a
 * service stamps what it writes with where the statement cannot (a task's createdAt and default runAfter, sent with
 * the create): the instance's clock while it is within a second of the database's, else the database's as last
 * measured (at most one round trip in its past). A claim compares those times with the database's
 * (`run_after <= now()`), so an instance X seconds ahead delayed the tasks it created by X, and one behind put them
 * ahead of older ones.
 */
export class DatabaseClock implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('DatabaseClock');
  /** The last measured skew in ms, when past the threshold; 0 otherwise. */
  private correctionMs = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly db: ServiceClient,
    registry: MetricsRegistry,
  ) {
    const measure = () => this.measure();
    new Gauge({
      name: 'database_clock_skew_seconds',
      help: "This instance's clock minus its database's (clock_timestamp()), in seconds, at the midpoint of one round trip",
      registers: [registry],
      async collect() {
        const skew = await measure();
        // database unavailable: keep the last value; readiness reports the database
        if (skew !== undefined) this.set(skew);
      },
    });
  }

  /** Now by the database's clock where this instance's is more than a second off it; by this instance's otherwise. */
  now(): Date {
    return new Date(Date.now() - this.correctionMs);
  }

  async onApplicationBootstrap(): Promise<void> {
    const skew = await this.measure();
    if (skew !== undefined && Math.abs(skew) > CLOCK_SKEW_WARN_SECONDS) {
      this.logger.warn(
        { skewSeconds: skew },
        `this instance's clock is ${Math.abs(skew).toFixed(1)} s ${skew > 0 ? 'ahead of' : 'behind'} the database's: it stamps what it writes with the database's time as measured every ${CLOCK_MEASURE_INTERVAL_MS / 1000} s (sync the host's clock)`,
      );
    }
    this.timer = setInterval(() => void this.measure(), CLOCK_MEASURE_INTERVAL_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /**
   * The skew at the midpoint of one round trip (what the gauge and the warning say). The correction is its upper
   * bound instead, the round trip's end: the corrected time then errs into the database's past, never its future,
   * where a task stamped with it would wait for a claim.
   */
  private async measure(): Promise<number | undefined> {
    const r = await databaseClockReading(this.db).catch(() => undefined);
    if (r === undefined) return undefined;
    const skew = ((r.sentAt + r.answeredAt) / 2 - r.db) / 1000;
    this.correctionMs = Math.abs(skew) > CLOCK_SKEW_WARN_SECONDS ? r.answeredAt - r.db : 0;
    return skew;
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
      global: true,
      providers: [{ provide: DatabaseClock, useFactory: (db: C, registry: MetricsRegistry) => new DatabaseClock(db, registry), inject: [client, MetricsRegistry] }],
      exports: [DatabaseClock],
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
