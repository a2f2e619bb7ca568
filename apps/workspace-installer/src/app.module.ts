import { Module, type DynamicModule } from '@nestjs/common';
import { serviceShell } from '@agentplane/service-shell';
import { PrismaClient } from '@agentplane/db-workspace-installer';
import { OutboxModule } from '@agentplane/messaging';
import { SqlPool } from '@agentplane/persistence';
import { HEARTBEAT_SETTINGS, PLUGIN_HISTORY_SETTINGS, SERVICE, type ServiceConfig } from './config.js';
import { InstallPlatformAgent } from './platform-agent/install-platform-agent.js';
import { PlatformAgentRpc } from './platform-agent/platform-agent.rpc.js';
import { DisablePlugin } from './plugins/disable-plugin.js';
import { EnablePlugin } from './plugins/enable-plugin.js';
import { ListPluginChanges } from './plugins/list-plugin-changes.js';
import { ListPlugins } from './plugins/list-plugins.js';
import { PluginHistoryRetention } from './plugins/plugin-history-retention.js';
import { PluginsRpc } from './plugins/plugins.rpc.js';
import { CreateWorkspace } from './workspaces/create-workspace.js';
import { GetWorkspace } from './workspaces/get-workspace.js';
import { Heartbeat } from './workspaces/heartbeat.js';
import { HeartbeatSweeper } from './workspaces/heartbeat-sweeper.js';
import { ListWorkspaces } from './workspaces/list-workspaces.js';
import { RemoveWorkspace } from './workspaces/remove-workspace.js';
import { WorkspacesRepository } from './workspaces/workspaces.repository.js';
import { WorkspacesRpc } from './workspaces/workspaces.rpc.js';
import { ResourceFactsRpc } from './workspaces/resource-facts.rpc.js';

@Module({})
export class AppModule {
  static forRoot(config: ServiceConfig, opts: { logDestination?: NodeJS.WritableStream } = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ...serviceShell({ service: SERVICE, config, client: PrismaClient, logDestination: opts.logDestination }),
        OutboxModule.forRoot({ clientToken: SqlPool, enabled: config.outboxRelay, retentionHours: config.outboxRetentionHours }),
      ],
      controllers: [WorkspacesRpc, PlatformAgentRpc, PluginsRpc, ResourceFactsRpc],
      providers: [
        { provide: HEARTBEAT_SETTINGS, useValue: config.heartbeat },
        { provide: PLUGIN_HISTORY_SETTINGS, useValue: config.pluginHistory },
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
        ListPluginChanges,
        PluginHistoryRetention,
      ],
    };
  }
}
