import { authEnvSchema, toAuthConfig, type AuthConfig } from '@agentplane/auth';
import { idempotencyEnvSchema, toIdempotencyConfig, type IdempotencyConfig } from '@agentplane/idempotency';
import { parseEnv, serviceEnvSchema, toServiceConfig, type ServiceBaseConfig } from '@agentplane/observability';
import { z } from 'zod';

export const SERVICE = 'tasks';

const schema = serviceEnvSchema({ httpPort: 3001, databaseName: 'agentplane_tasks' })
  .extend({
    /** How tasks and agents are registered with the authz proxy; read once at start (a change needs a restart). */
    TASKS_AUTHZ_REGISTRATION: z.enum(['off', 'outbox', 'sync']).default('outbox'),
    /** Run the outbox relay in this process (turn off to run relays elsewhere). */
    OUTBOX_RELAY: z.enum(['on', 'off']).default('on'),
  })
  .and(authEnvSchema)
  .and(idempotencyEnvSchema);

export interface TasksConfig extends ServiceBaseConfig {
  auth: AuthConfig;
  /** IDEMPOTENCY_TTL_SECONDS (1 h–7 d, default 24 h), IDEMPOTENCY_LEASE_SECONDS (default 30), IDEMPOTENCY_REQUIRED, IDEMPOTENCY_SWEEP_INTERVAL_SECONDS. */
  idempotency: IdempotencyConfig;
  authzRegistration: 'off' | 'outbox' | 'sync';
  outboxRelay: boolean;
}

/** The only reader of process.env in this app. */
export function loadConfig(env: Record<string, string | undefined> = process.env): TasksConfig {
  const e = parseEnv(schema, env);
  return {
    ...toServiceConfig(e),
    auth: toAuthConfig(e),
    idempotency: toIdempotencyConfig(e),
    authzRegistration: e.TASKS_AUTHZ_REGISTRATION,
    outboxRelay: e.OUTBOX_RELAY === 'on',
  };
}
