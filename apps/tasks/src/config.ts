import { authEnvSchema, toAuthConfig, type AuthConfig } from '@agentplane/auth';
import { idempotencyEnvSchema, toIdempotencyConfig, type IdempotencyConfig } from '@agentplane/idempotency';
import { parseEnv, serviceEnvSchema } from '@agentplane/observability';

export const SERVICE = 'tasks';

const schema = serviceEnvSchema({ httpPort: 3001, databaseName: 'agentplane_tasks' }).and(authEnvSchema).and(idempotencyEnvSchema);

export interface TasksConfig {
  http: { host: string; port: number };
  nats: { servers: string; prefix: string; requestTimeoutMs: number };
  database: { url: string; poolMax: number };
  logLevel: string;
  auth: AuthConfig;
  /** IDEMPOTENCY_TTL_SECONDS (1 h–7 d, default 24 h), IDEMPOTENCY_LEASE_SECONDS (default 30), IDEMPOTENCY_REQUIRED, IDEMPOTENCY_SWEEP_INTERVAL_SECONDS. */
  idempotency: IdempotencyConfig;
}

/** The only reader of process.env in this app. */
export function loadConfig(env: Record<string, string | undefined> = process.env): TasksConfig {
  const e = parseEnv(schema, env);
  return {
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT },
    nats: { servers: e.NATS_URL, prefix: e.NATS_SUBJECT_PREFIX, requestTimeoutMs: e.NATS_REQUEST_TIMEOUT_MS },
    database: { url: e.DATABASE_URL as string, poolMax: e.DATABASE_POOL_MAX },
    logLevel: e.LOG_LEVEL,
    auth: toAuthConfig(e),
    idempotency: toIdempotencyConfig(e),
  };
}
