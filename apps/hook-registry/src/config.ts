import { outboxEnvSchema, toOutboxConfig, type OutboxConfig } from '@agentplane/messaging';
import { parseEnv } from '@agentplane/observability';
import { databaseServiceEnvSchema, toDatabaseServiceConfig, type DatabaseServiceConfig } from '@agentplane/service-shell';

export const SERVICE = 'hook-registry';

// OUTBOX_RELAY: publish the outbox (authz registrations of hooks, releases and runs) from this process.
const schema = databaseServiceEnvSchema({ httpPort: 3002, databaseName: 'agentplane_hook_registry' }).and(outboxEnvSchema);

export type ServiceConfig = DatabaseServiceConfig & OutboxConfig;

/** The only reader of process.env in this app. */
export function loadConfig(env: Record<string, string | undefined> = process.env): ServiceConfig {
  const e = parseEnv(schema, env);
  return {
    ...toDatabaseServiceConfig(e),
    ...toOutboxConfig(e),
  };
}
