import { Module, type DynamicModule } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import { AuthModule } from '@agentplane/auth';
import { PrismaClient } from '@agentplane/db-hook-registry';
import { IdempotencyModule } from '@agentplane/idempotency';
import { MessagingModule, NATS_CONNECTION, OutboxModule, pingNats } from '@agentplane/messaging';
import { HealthModule, MetricsModule, READINESS_CHECKS, loggingModule } from '@agentplane/observability';
import { pingDatabase, prismaModule } from '@agentplane/persistence';
import { SERVICE, type ServiceConfig } from './config.js';
import { AddOutputs } from './hooks/add-outputs.js';
import { CreateRelease } from './hooks/create-release.js';
import { DeployConvention } from './hooks/deploy-convention.js';
import { FinishRun } from './hooks/finish-run.js';
import { GetProvenance } from './hooks/get-provenance.js';
import { HooksRepository } from './hooks/hooks.repository.js';
import { HooksRpc } from './hooks/hooks.rpc.js';
import { ReadCatalog } from './hooks/read-catalog.js';
import { ReleaseMinter } from './hooks/release-minter.js';
import { SetLive } from './hooks/set-live.js';
import { StartRun } from './hooks/start-run.js';

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
        OutboxModule.forRoot({ prismaToken: PrismaClient, enabled: config.outboxRelay }),
        IdempotencyModule.forRoot({ client: PrismaClient, config: config.idempotency }),
        HealthModule.forRoot({
          provide: READINESS_CHECKS,
          useFactory: (db: PrismaClient, nc: NatsConnection) => [
            { name: 'database', check: () => pingDatabase(db) },
            { name: 'nats', check: () => pingNats(nc) },
          ],
          inject: [PrismaClient, NATS_CONNECTION],
        }),
      ],
      controllers: [HooksRpc],
      providers: [HooksRepository, ReleaseMinter, DeployConvention, ReadCatalog, CreateRelease, SetLive, StartRun, FinishRun, AddOutputs, GetProvenance],
    };
  }
}
