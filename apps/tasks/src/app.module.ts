import { Module, type DynamicModule } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import { AuthModule } from '@agentplane/auth';
import { PrismaClient } from '@agentplane/db-tasks';
import { IdempotencyModule } from '@agentplane/idempotency';
import { MessagingModule, NATS_CONNECTION, OutboxModule, pingNats } from '@agentplane/messaging';
import { AuthzClientModule } from '@agentplane/authz-client';
import { HealthModule, MetricsModule, READINESS_CHECKS, loggingModule } from '@agentplane/observability';
import { pingDatabase, prismaModule } from '@agentplane/persistence';
import { SERVICE, type TasksConfig } from './config.js';
import { AgentsRpc } from './agents/agents.rpc.js';
import { AgentsRepository } from './agents/agents.repository.js';
import { CreateAgent } from './agents/create-agent.js';
import { GetAgent } from './agents/get-agent.js';
import { TasksRpc } from './tasks/tasks.rpc.js';
import { TasksRepository } from './tasks/tasks.repository.js';
import { TaskAccess } from './tasks/task-access.js';
import { AuthzRegistration, REGISTRATION_MODE } from './authz-registration.js';
import { CreateTask } from './tasks/create-task.js';
import { GetTask } from './tasks/get-task.js';
import { ListTasks } from './tasks/list-tasks.js';
import { CancelTask } from './tasks/cancel-task.js';
import { DeleteTask } from './tasks/delete-task.js';

@Module({})
export class AppModule {
  static forRoot(config: TasksConfig, opts: { logDestination?: NodeJS.WritableStream } = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        loggingModule({ service: SERVICE, level: config.logLevel, destination: opts.logDestination }),
        MetricsModule.forRoot(SERVICE),
        MessagingModule.forRoot({ ...config.nats, name: SERVICE }),
        AuthModule.forRoot(config.auth),
        prismaModule(PrismaClient, { url: config.database.url, poolMax: config.database.poolMax }),
        IdempotencyModule.forRoot({ client: PrismaClient, config: config.idempotency }),
        AuthzClientModule,
        OutboxModule.forRoot({ prismaToken: PrismaClient, enabled: config.outboxRelay && config.authzRegistration !== 'off' }),
        HealthModule.forRoot({
          provide: READINESS_CHECKS,
          useFactory: (db: PrismaClient, nc: NatsConnection) => [
            { name: 'database', check: () => pingDatabase(db) },
            { name: 'nats', check: () => pingNats(nc) },
          ],
          inject: [PrismaClient, NATS_CONNECTION],
        }),
      ],
      controllers: [AgentsRpc, TasksRpc],
      providers: [
        { provide: REGISTRATION_MODE, useValue: config.authzRegistration },
        AuthzRegistration,
        AgentsRepository,
        CreateAgent,
        GetAgent,
        TasksRepository,
        TaskAccess,
        CreateTask,
        GetTask,
        ListTasks,
        CancelTask,
        DeleteTask,
      ],
    };
  }
}
