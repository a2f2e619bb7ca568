import { z } from 'zod';
import { authEnvSchema, toAuthConfig, type AuthConfig } from '@agentplane/auth';
import { idempotencyEnvSchema, toIdempotencyConfig, type IdempotencyConfig } from '@agentplane/idempotency';
import { parseEnv, serviceEnvSchema } from '@agentplane/observability';

export const SERVICE = 'hook-registry';

const registryEnvSchema = z.object({
  /** Publish the outbox (authz registrations of hooks, releases and runs) from this process. */
  OUTBOX_RELAY: z.enum(['on', 'off']).default('on'),
});

const schema = serviceEnvSchema({ httpPort: 3002, databaseName: 'agentplane_hook_registry' })
  .and(authEnvSchema)
  .and(idempotencyEnvSchema)
  .and(registryEnvSchema);

export interface ServiceConfig {
  http: { host: string; port: number };
  nats: { servers: string; prefix: string; requestTimeoutMs: number };
  database: { url: string; poolMax: number };
  logLevel: string;
  auth: AuthConfig;
  /** IDEMPOTENCY_TTL_SECONDS, IDEMPOTENCY_LEASE_SECONDS, IDEMPOTENCY_REQUIRED, IDEMPOTENCY_SWEEP_INTERVAL_SECONDS. */
  idempotency: IdempotencyConfig;
  outboxRelay: boolean;
}

/** The only reader of process.env in this app. */
export function loadConfig(env: Record<string, string | undefined> = process.env): ServiceConfig {
  const e = parseEnv(schema, env);
  return {
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT },
    nats: { servers: e.NATS_URL, prefix: e.NATS_SUBJECT_PREFIX, requestTimeoutMs: e.NATS_REQUEST_TIMEOUT_MS },
    database: { url: e.DATABASE_URL as string, poolMax: e.DATABASE_POOL_MAX },
    logLevel: e.LOG_LEVEL,
    auth: toAuthConfig(e),
    idempotency: toIdempotencyConfig(e),
    outboxRelay: e.OUTBOX_RELAY === 'on',
  };
}
