import { fileURLToPath } from 'node:url';
import { authEnvSchema, toAuthConfig, type AuthConfig } from '@agentplane/auth';
import { parseEnv, serviceEnvSchema, toNatsConfig, type NatsConfig } from '@agentplane/observability';
import { z } from 'zod';

export const SERVICE = 'gateway';

const schema = serviceEnvSchema({ httpPort: 3000 })
  .extend({
    GATEWAY_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    // where the built console lives (default: apps/console/dist beside this app's dist)
    GATEWAY_CONSOLE_DIR: z.string().min(1).optional(),
    GATEWAY_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).max(50 * 1024 * 1024).default(1_048_576),
  })
  .and(authEnvSchema);

export interface GatewayConfig {
  http: { host: string; port: number; bodyLimitBytes: number };
  nats: NatsConfig;
  logLevel: string;
  auth: AuthConfig;
  consoleDir: string;
}

export function loadConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const e = parseEnv(schema, env);
  return {
    http: { host: e.HTTP_HOST, port: e.GATEWAY_PORT ?? e.HTTP_PORT, bodyLimitBytes: e.GATEWAY_BODY_LIMIT_BYTES },
    nats: toNatsConfig(e),
    logLevel: e.LOG_LEVEL,
    auth: toAuthConfig(e),
    consoleDir: e.GATEWAY_CONSOLE_DIR ?? fileURLToPath(new URL('../../console/dist', import.meta.url)),
  };
}
