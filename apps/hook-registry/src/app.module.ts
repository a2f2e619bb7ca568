import { Module, type DynamicModule } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import { AuthModule } from '@agentplane/auth';
import { PrismaClient } from '@agentplane/db-hook-registry';
import { MessagingModule, NATS_CONNECTION, pingNats } from '@agentplane/messaging';
import { HealthModule, MetricsModule, READINESS_CHECKS, loggingModule } from '@agentplane/observability';
import { pingDatabase, prismaModule } from '@agentplane/persistence';
import { SERVICE, type ServiceConfig } from './config.js';

@Module({})
export class AppModule {
  static forRoot(config: ServiceConfig, opts: { logDestination?: NodeJS.WritableStream } = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        loggingModule({ service: SERVICE, level: config.logLevel, destination: opts.logDestination }),
        MetricsModule.forRoot(SERVICE),
        MessagingModule.forRoot({ ...config.nats, name: SERVICE }),
        AuthModule.forRoot(config.auth),
        prismaModule(PrismaClient, { url: config.database.url, poolMax: config.database.poolMax }),
        HealthModule.forRoot({
          provide: READINESS_CHECKS,
          useFactory: (db: PrismaClient, nc: NatsConnection) => [
            { name: 'database', check: () => pingDatabase(db) },
            { name: 'nats', check: () => pingNats(nc) },
          ],
          inject: [PrismaClient, NATS_CONNECTION],
        }),
      ],
      controllers: [],
      providers: [],
    };
  }
}
