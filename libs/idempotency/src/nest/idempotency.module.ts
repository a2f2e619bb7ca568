import {
  Global,
  Inject,
  Injectable,
  Logger,
  Module,
  type DynamicModule,
  type InjectionToken,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { writesAt } from '@agentplane/observability';
import { idempotencyConfig, type IdempotencyConfig } from '../core/config.js';
import { Idempotency, type IdempotencyLogger } from '../core/idempotency.js';
import type { SqlClient } from '../core/store.js';
import { IdempotencyGuard } from './idempotency.guard.js';

export interface IdempotencyModuleOptions {
  /** Injection token of the service's own Prisma client (its class, as `prismaModule` provides it). */
  client: InjectionToken;
  config: Partial<IdempotencyConfig>;
  /** The service's LOG_LEVEL (pino's names): lines below it are not even built. Every level when absent. */
  logLevel?: string;
}

/** The core's logger at `level`: a level that writes nothing is left out (IdempotencyLogger). */
export function nestLogger(level?: string): IdempotencyLogger {
  const logger = new Logger('Idempotency');
  return {
    ...(writesAt(level, 'debug') ? { debug: (fields: Record<string, unknown>, msg: string) => logger.debug(fields, msg) } : {}),
    ...(writesAt(level, 'info') ? { info: (fields: Record<string, unknown>, msg: string) => logger.log(fields, msg) } : {}),
    warn: (fields, msg) => logger.warn(fields, msg),
  };
}

/** Deletes expired keys every `sweepIntervalSeconds` (every instance may sweep: batches skip rows another one holds). */
@Injectable()
export class IdempotencySweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private readonly logger = new Logger('Idempotency');

  constructor(@Inject(Idempotency) private readonly idempotency: Idempotency) {}

  onApplicationBootstrap(): void {
    const seconds = this.idempotency.config.sweepIntervalSeconds;
    if (seconds === 0) return;
    this.timer = setInterval(() => {
      this.idempotency.sweep().catch((err: unknown) => this.logger.warn({ err }, 'idempotency sweep failed'));
    }, seconds * 1000);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }
}

/**
 * Idempotency for a service: the `Idempotency` core over the service's Prisma client (injected by use cases to
 * `completeWithin(tx, response)`), the guard behind `@Idempotent()`, and the sweep of expired keys.
 */
@Global()
@Module({})
export class IdempotencyModule {
  static forRoot(options: IdempotencyModuleOptions): DynamicModule {
    const config = idempotencyConfig(options.config);
    return {
      module: IdempotencyModule,
      providers: [
        { provide: Idempotency, useFactory: (db: SqlClient) => new Idempotency(db, config, nestLogger(options.logLevel)), inject: [options.client] },
        IdempotencyGuard,
        IdempotencySweeper,
      ],
      exports: [Idempotency, IdempotencyGuard],
    };
  }
}
