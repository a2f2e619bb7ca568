import { authEnvSchema, toAuthConfig, type AuthConfig } from '@agentplane/auth';
import { parseEnv, serviceEnvSchema } from '@agentplane/observability';

export const SERVICE = 'hook-registry';

const schema = serviceEnvSchema({ httpPort: 3002, databaseName: 'agentplane_hook_registry' }).and(authEnvSchema);

export interface ServiceConfig {
  http: { host: string; port: number };
  nats: { servers: string; prefix: string; requestTimeoutMs: number };
  database: { url: string; poolMax: number };
  logLevel: string;
  auth: AuthConfig;
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
  };
}
