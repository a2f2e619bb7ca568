import { Module, type DynamicModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type { NatsConnection } from '@nats-io/transport-node';
import { AuthModule } from '@agentplane/auth';
import { MessagingModule, NATS_CONNECTION, pingNats } from '@agentplane/messaging';
import { HealthModule, MetricsModule, READINESS_CHECKS, loggingModule } from '@agentplane/observability';
import { SERVICE, type GatewayConfig } from './config.js';
import { Forwarder } from './http/forwarder.js';
import { TaskEventStream } from './http/task-event-stream.js';
import { OpenApiBuilder } from './http/openapi.js';
import { AgentsHttp } from './routes/agents.http.js';
import { TasksHttp } from './routes/tasks.http.js';
import { HooksHttp } from './routes/hooks.http.js';
import { AuthzHttp } from './routes/authz.http.js';
import { WorkspacesHttp } from './routes/workspaces.http.js';

export const ROUTE_CONTROLLERS = [AgentsHttp, TasksHttp, AuthzHttp, HooksHttp, WorkspacesHttp];

@Module({})
export class AppModule {
  static forRoot(config: GatewayConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        DiscoveryModule,
        loggingModule({ service: SERVICE, level: config.logLevel }),
        MetricsModule.forRoot(SERVICE),
        MessagingModule.forRoot({ ...config.nats, name: SERVICE }),
        AuthModule.forRoot(config.auth),
        HealthModule.forRoot({
          provide: READINESS_CHECKS,
          useFactory: (nc: NatsConnection) => [{ name: 'nats', check: () => pingNats(nc) }],
          inject: [NATS_CONNECTION],
        }),
      ],
      controllers: ROUTE_CONTROLLERS,
      providers: [Forwarder, OpenApiBuilder, TaskEventStream],
    };
  }
}
