import { z } from 'zod';
import { outboxEnvSchema, toOutboxConfig, type OutboxConfig } from '@agentplane/messaging';
import { parseEnv } from '@agentplane/observability';
import { databaseServiceEnvSchema, toDatabaseServiceConfig, type DatabaseServiceConfig } from '@agentplane/service-shell';

export const SERVICE = 'tasks';

const schema = databaseServiceEnvSchema({ httpPort: 3001, databaseName: 'agentplane_tasks' })
  .and(
    z.object({
      /** How tasks and agents are registered with the authz proxy; read once at start (a change needs a restart). */
      TASKS_AUTHZ_REGISTRATION: z.enum(['off', 'outbox', 'sync']).default('outbox'),
    }),
  )
  .and(outboxEnvSchema);

export interface TasksConfig extends DatabaseServiceConfig, OutboxConfig {
  authzRegistration: 'off' | 'outbox' | 'sync';
}

/** The only reader of process.env in this app. */
export function loadConfig(env: Record<string, string | undefined> = process.env): TasksConfig {
  const e = parseEnv(schema, env);
  return {
    ...toDatabaseServiceConfig(e),
    authzRegistration: e.TASKS_AUTHZ_REGISTRATION,
    ...toOutboxConfig(e),
  };
}
