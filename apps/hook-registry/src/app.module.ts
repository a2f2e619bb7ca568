import { Module, type DynamicModule } from '@nestjs/common';
import { serviceShell } from '@agentplane/service-shell';
import { PrismaClient } from '@agentplane/db-hook-registry';
import { OutboxModule } from '@agentplane/messaging';
import { SqlPool } from '@agentplane/persistence';
import { SERVICE, type ServiceConfig } from './config.js';
import { AddOutputs } from './hooks/add-outputs.js';
import { CreateRelease } from './hooks/create-release.js';
import { DeployConvention } from './hooks/deploy-convention.js';
import { FinishRun } from './hooks/finish-run.js';
import { GetProvenance } from './hooks/get-provenance.js';
import { HooksRepository } from './hooks/hooks.repository.js';
import { HooksRpc } from './hooks/hooks.rpc.js';
import { ResourceFactsRpc } from './hooks/resource-facts.rpc.js';
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
        ...serviceShell({ service: SERVICE, config, client: PrismaClient, logDestination: opts.logDestination }),
        OutboxModule.forRoot({ clientToken: SqlPool, enabled: config.outboxRelay, retentionHours: config.outboxRetentionHours }),
      ],
      controllers: [HooksRpc, ResourceFactsRpc],
      providers: [HooksRepository, ReleaseMinter, DeployConvention, ReadCatalog, CreateRelease, SetLive, StartRun, FinishRun, AddOutputs, GetProvenance],
    };
  }
}
