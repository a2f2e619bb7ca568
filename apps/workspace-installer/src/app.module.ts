import { Module, type DynamicModule } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import { AuthModule } from '@agentplane/auth';
import { PrismaClient } from '@agentplane/db-workspace-installer';
import { IdempotencyModule } from '@agentplane/idempotency';
import { MessagingModule, NATS_CONNECTION, OutboxModule, pingNats } from '@agentplane/messaging';
import { HealthModule, MetricsModule, READINESS_CHECKS, loggingModule } from '@agentplane/observability';
import { pingDatabase, prismaModule } from '@agentplane/persistence';
import { HEARTBEAT_SETTINGS, SERVICE, type ServiceConfig } from './config.js';
import { InstallPlatformAgent } from './platform-agent/install-platform-agent.js';
import { PlatformAgentRpc } from './platform-agent/platform-agent.rpc.js';
import { DisablePlugin } from './plugins/disable-plugin.js';
import { EnablePlugin } from './plugins/enable-plugin.js';
import { ListPlugins } from './plugins/list-plugins.js';
import { PluginsRpc } from './plugins/plugins.rpc.js';
import { CreateWorkspace } from './workspaces/create-workspace.js';
import { GetWorkspace } from './workspaces/get-workspace.js';
import { Heartbeat } from './workspaces/heartbeat.js';
import { HeartbeatSweeper } from './workspaces/heartbeat-sweeper.js';
import { ListWorkspaces } from './workspaces/list-workspaces.js';
import { RemoveWorkspace } from './workspaces/remove-workspace.js';
import { WorkspacesRepository } from './workspaces/workspaces.repository.js';
import { WorkspacesRpc } from './workspaces/workspaces.rpc.js';

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
        IdempotencyModule.forRoot({ client: PrismaClient, config: config.idempotency }),
        OutboxModule.forRoot({ prismaToken: PrismaClient, enabled: config.outboxRelay }),
        HealthModule.forRoot({
          provide: READINESS_CHECKS,
          useFactory: (db: PrismaClient, nc: NatsConnection) => [
            { name: 'database', check: () => pingDatabase(db) },
            { name: 'nats', check: () => pingNats(nc) },
          ],
          inject: [PrismaClient, NATS_CONNECTION],
        }),
      ],
      controllers: [WorkspacesRpc, PlatformAgentRpc, PluginsRpc],
      providers: [
        { provide: HEARTBEAT_SETTINGS, useValue: config.heartbeat },
        WorkspacesRepository,
        CreateWorkspace,
        GetWorkspace,
        ListWorkspaces,
        RemoveWorkspace,
        Heartbeat,
        HeartbeatSweeper,
        InstallPlatformAgent,
        EnablePlugin,
        DisablePlugin,
        ListPlugins,
      ],
    };
  }
}
