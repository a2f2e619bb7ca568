import { z } from 'zod';
import { authEnvSchema, toAuthConfig, type AuthConfig } from '@agentplane/auth';
import { idempotencyEnvSchema, toIdempotencyConfig, type IdempotencyConfig } from '@agentplane/idempotency';
import { parseEnv, serviceEnvSchema, toServiceConfig, type ServiceBaseConfig } from '@agentplane/observability';

export const SERVICE = 'hook-registry';

const registryEnvSchema = z.object({
  /** Publish the outbox (authz registrations of hooks, releases and runs) from this process. */
  OUTBOX_RELAY: z.enum(['on', 'off']).default('on'),
});

const schema = serviceEnvSchema({ httpPort: 3002, databaseName: 'agentplane_hook_registry' })
  .and(authEnvSchema)
  .and(idempotencyEnvSchema)
  .and(registryEnvSchema);

export interface ServiceConfig extends ServiceBaseConfig {
  auth: AuthConfig;
  /** IDEMPOTENCY_TTL_SECONDS, IDEMPOTENCY_LEASE_SECONDS, IDEMPOTENCY_REQUIRED, IDEMPOTENCY_SWEEP_INTERVAL_SECONDS. */
  idempotency: IdempotencyConfig;
  outboxRelay: boolean;
}

/** The only reader of process.env in this app. */
export function loadConfig(env: Record<string, string | undefined> = process.env): ServiceConfig {
  const e = parseEnv(schema, env);
  return {
    ...toServiceConfig(e),
    auth: toAuthConfig(e),
    idempotency: toIdempotencyConfig(e),
    outboxRelay: e.OUTBOX_RELAY === 'on',
  };
}
