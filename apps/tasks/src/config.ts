import { z } from 'zod';
import type { AuthzClientModuleOptions } from '@agentplane/authz-client';
import { outboxEnvSchema, toOutboxConfig, type OutboxConfig } from '@agentplane/messaging';
import { parseEnv } from '@agentplane/observability';
import { databaseServiceEnvSchema, toDatabaseServiceConfig, type DatabaseServiceConfig } from '@agentplane/service-shell';
import { DEFAULT_RECHECK_MS } from './tasks/task-wakeups.js';

export const SERVICE = 'tasks';

const schema = databaseServiceEnvSchema({ httpPort: 3001, databaseName: 'agentplane_tasks' })
  .and(
    z.object({
      /** How tasks and agents are registered with the authz proxy; read once at start (a change needs a restart). */
      TASKS_AUTHZ_REGISTRATION: z.enum(['off', 'outbox', 'sync']).default('outbox'),
      /** How often this instance's sweeper ends attempts whose lease or timeout passed (0 turns it off). */
      TASKS_SWEEP_INTERVAL_MS: z.coerce.number().int().refine((n) => n === 0 || (n >= 50 && n <= 60_000), { message: 'must be 0 or 50-60000' }).default(1_000),
      /** How often a long-poll (claim, get, history page) looks again without a wake-up. */
      TASKS_LONG_POLL_RECHECK_MS: z.coerce.number().int().min(100).max(60_000).default(DEFAULT_RECHECK_MS),
      /** Attempts ended (and ended tasks deleted past their retention) per sweep transaction. */
      TASKS_SWEEP_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(100),
      /**
       * Hours an ended task (completed, failed, canceled) is kept after it finished; the sweeper then deletes it as a
       * delete would, its `deleted` event naming `system`. 0 keeps every task.
       */
      TASKS_RETENTION_HOURS: z.coerce.number().int().min(0).max(87_600).default(0),
      /**
       * Keep allowed authz decisions until authz-proxy announces a change that may take them away (DESIGN §3, the
       * decision cache); off: ask authz-proxy on every request.
       */
      TASKS_AUTHZ_DECISION_CACHE: z.enum(['on', 'off']).default('on'),
      /** The cache is used only while an announcement or beacon (every AUTHZ_REVISION_BEACON_MS) was heard this recently. */
      TASKS_AUTHZ_DECISION_CACHE_FRESH_MS: z.coerce.number().int().min(50).max(60_000).default(500),
      TASKS_AUTHZ_DECISION_CACHE_MAX: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
    }),
  )
  .and(outboxEnvSchema);

export interface TasksConfig extends DatabaseServiceConfig, OutboxConfig {
  authzRegistration: 'off' | 'outbox' | 'sync';
  sweep: { intervalMs: number; batchSize: number; retentionHours: number };
  longPoll: { recheckMs: number };
  authzDecisionCache: AuthzClientModuleOptions['decisionCache'];
}

/** The only reader of process.env in this app. */
export function loadConfig(env: Record<string, string | undefined> = process.env): TasksConfig {
  const e = parseEnv(schema, env);
  return {
    ...toDatabaseServiceConfig(e),
    authzRegistration: e.TASKS_AUTHZ_REGISTRATION,
    sweep: { intervalMs: e.TASKS_SWEEP_INTERVAL_MS, batchSize: e.TASKS_SWEEP_BATCH_SIZE, retentionHours: e.TASKS_RETENTION_HOURS },
    longPoll: { recheckMs: e.TASKS_LONG_POLL_RECHECK_MS },
    authzDecisionCache:
      e.TASKS_AUTHZ_DECISION_CACHE === 'on'
        ? { enabled: true, freshMs: e.TASKS_AUTHZ_DECISION_CACHE_FRESH_MS, maxEntries: e.TASKS_AUTHZ_DECISION_CACHE_MAX }
        : { enabled: false },
    ...toOutboxConfig(e),
  };
}
