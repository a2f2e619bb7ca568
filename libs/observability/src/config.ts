import { z } from 'zod';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Parses the environment once, at start. A bad or missing value throws a ConfigError that names every variable
 * at fault; `main.ts` prints it and exits non-zero.
 */
export function parseEnv<S extends z.ZodType>(schema: S, env: Record<string, string | undefined> = process.env): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * The environment every service reads (DESIGN §10). An app merges its own variables (and the auth ones) into it.
 * `databaseName` is the default database of a service that owns one.
 */
export function serviceEnvSchema(defaults: { httpPort: number; databaseName?: string }) {
  return z.object({
    HTTP_HOST: z.string().min(1).default('0.0.0.0'),
    HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(defaults.httpPort),
    NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222'),
    NATS_SUBJECT_PREFIX: z
      .string()
      .regex(/^([A-Za-z0-9_-]+\.)?$/, 'must be empty or like "name."')
      .default(''),
    NATS_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(50).max(120_000).default(5_000),
    LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
    DATABASE_URL: defaults.databaseName
      ? z
          .string()
          .regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL')
          .default(`postgresql://postgres@127.0.0.1:5432/${defaults.databaseName}`)
      : z.string().optional(),
    DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  });
}

/** The parts of a service's config every app shares, from an env parsed with `serviceEnvSchema`. */
export interface ServiceBaseConfig {
  http: { host: string; port: number };
  nats: { servers: string; prefix: string; requestTimeoutMs: number };
  database: { url: string; poolMax: number };
  logLevel: string;
}

export function toServiceConfig(e: z.infer<ReturnType<typeof serviceEnvSchema>>): ServiceBaseConfig {
  return {
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT },
    nats: { servers: e.NATS_URL, prefix: e.NATS_SUBJECT_PREFIX, requestTimeoutMs: e.NATS_REQUEST_TIMEOUT_MS },
    database: { url: e.DATABASE_URL ?? '', poolMax: e.DATABASE_POOL_MAX },
    logLevel: e.LOG_LEVEL,
  };
}
