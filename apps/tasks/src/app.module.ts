import { Module, type DynamicModule } from '@nestjs/common';
import { serviceShell } from '@agentplane/service-shell';
import { PrismaClient } from '@agentplane/db-tasks';
import { OutboxModule } from '@agentplane/messaging';
import { SqlPool } from '@agentplane/persistence';
import { AuthzClientModule } from '@agentplane/authz-client';
import { SERVICE, type TasksConfig } from './config.js';
import { AgentsRpc } from './agents/agents.rpc.js';
import { AgentsRepository } from './agents/agents.repository.js';
import { CreateAgent } from './agents/create-agent.js';
import { GetAgent } from './agents/get-agent.js';
import { TasksRpc } from './tasks/tasks.rpc.js';
import { ResourceFactsRpc } from './resource-facts.rpc.js';
import { TasksRepository } from './tasks/tasks.repository.js';
import { TaskAccess } from './tasks/task-access.js';
import { AuthzRegistration, REGISTRATION_MODE } from './authz-registration.js';
import { CreateTask } from './tasks/create-task.js';
import { GetTask } from './tasks/get-task.js';
import { ListTasks } from './tasks/list-tasks.js';
import { CancelTask } from './tasks/cancel-task.js';
import { DeleteTask } from './tasks/delete-task.js';
import { ListAgents } from './agents/list-agents.js';
import { AgentStats } from './agents/agent-stats.js';
import { ClaimTasks } from './tasks/claim-tasks.js';
import { HeartbeatTask } from './tasks/heartbeat-task.js';
import { CompleteTask } from './tasks/complete-task.js';
import { FailTask } from './tasks/fail-task.js';
import { ListTaskEvents } from './tasks/list-task-events.js';
import { TaskHistory } from './tasks/task-history.js';
import { TaskAttempts } from './tasks/task-attempts.js';
import { TaskMetrics } from './tasks/task-metrics.js';
import { TaskSweeper, SWEEP_SETTINGS } from './tasks/task-sweeper.js';
import { TaskWakeups, WAKEUP_SETTINGS } from './tasks/task-wakeups.js';

@Module({})
export class AppModule {
  static forRoot(config: TasksConfig, opts: { logDestination?: NodeJS.WritableStream } = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ...serviceShell({ service: SERVICE, config, client: PrismaClient, logDestination: opts.logDestination }),
        AuthzClientModule.forRoot({ decisionCache: config.authzDecisionCache }),
        // Also with registration off: every task transition publishes task_updated through the outbox.
        OutboxModule.forRoot({ clientToken: SqlPool, enabled: config.outboxRelay, retentionHours: config.outboxRetentionHours }),
      ],
      controllers: [AgentsRpc, TasksRpc, ResourceFactsRpc],
      providers: [
        { provide: REGISTRATION_MODE, useValue: config.authzRegistration },
        { provide: SWEEP_SETTINGS, useValue: config.sweep },
        { provide: WAKEUP_SETTINGS, useValue: config.longPoll },
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
        ListAgents,
        AgentStats,
        TaskHistory,
        TaskAttempts,
        TaskMetrics,
        TaskWakeups,
        TaskSweeper,
        ClaimTasks,
        HeartbeatTask,
        CompleteTask,
        FailTask,
        ListTaskEvents,
      ],
    };
  }
}
