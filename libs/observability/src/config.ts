import { accessSync, constants, readFileSync } from 'node:fs';
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

function readableFile(what: string) {
  return z
    .string()
    .min(1)
    .refine((p) => {
      try {
        accessSync(p, constants.R_OK);
        return true;
      } catch {
        return false;
      }
    }, `must name a readable ${what} file`)
    .optional();
}

function isUserSeedFile(path: string): boolean {
  try {
    return /^SU[A-Z2-7]{50,}$/.test(readFileSync(path, 'utf8').trim());
  } catch {
    return false;
  }
}

/** How a process authenticates to NATS and secures the connection (files, read at connect). */
export interface NatsAuth {
  nkeySeedFile?: string;
  credsFile?: string;
  /** Replies come back on `<inboxPrefix>.…`; the server lets an identity subscribe to its own prefix only. */
  inboxPrefix?: string;
  tls?: { ca?: string; cert?: string; key?: string };
}

export interface NatsConfig {
  servers: string;
  prefix: string;
  requestTimeoutMs: number;
  auth: NatsAuth;
  /** Replicas of the EVENTS stream (NATS_STREAM_REPLICAS: 3 on a 3-node cluster). */
  streamReplicas: number;
}

type NatsEnv = {
  NATS_URL: string;
  NATS_SUBJECT_PREFIX: string;
  NATS_REQUEST_TIMEOUT_MS: number;
  NATS_STREAM_REPLICAS: number;
  NATS_NKEY_SEED_FILE?: string;
  NATS_CREDS_FILE?: string;
  NATS_INBOX_PREFIX?: string;
  NATS_TLS_CA?: string;
  NATS_TLS_CERT?: string;
  NATS_TLS_KEY?: string;
};

/** The NATS part of a parsed environment; the rules that span two variables are checked here. */
export function toNatsConfig(e: NatsEnv): NatsConfig {
  const issues: string[] = [];
  if (e.NATS_NKEY_SEED_FILE && e.NATS_CREDS_FILE) issues.push('  NATS_CREDS_FILE: set either NATS_NKEY_SEED_FILE or NATS_CREDS_FILE, not both');
  if (!!e.NATS_TLS_CERT !== !!e.NATS_TLS_KEY) issues.push(`  ${e.NATS_TLS_CERT ? 'NATS_TLS_KEY' : 'NATS_TLS_CERT'}: a client certificate needs both NATS_TLS_CERT and NATS_TLS_KEY`);
  if (issues.length) throw new ConfigError(`invalid configuration:\n${issues.join('\n')}`);
  const tls = e.NATS_TLS_CA || e.NATS_TLS_CERT ? { ca: e.NATS_TLS_CA, cert: e.NATS_TLS_CERT, key: e.NATS_TLS_KEY } : undefined;
  return {
    servers: e.NATS_URL,
    prefix: e.NATS_SUBJECT_PREFIX,
    requestTimeoutMs: e.NATS_REQUEST_TIMEOUT_MS,
    streamReplicas: e.NATS_STREAM_REPLICAS,
    auth: { nkeySeedFile: e.NATS_NKEY_SEED_FILE, credsFile: e.NATS_CREDS_FILE, inboxPrefix: e.NATS_INBOX_PREFIX, ...(tls ? { tls } : {}) },
  };
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
    // The process's NATS identity and transport security (DESIGN §2.1): validated here, read again at connect.
    NATS_NKEY_SEED_FILE: readableFile('nkey seed').refine((p) => p === undefined || isUserSeedFile(p), 'must hold an nkey user seed (a line starting "SU")'),
    NATS_CREDS_FILE: readableFile('credentials'),
    NATS_INBOX_PREFIX: z
      .string()
      .regex(/^_INBOX_[A-Za-z0-9_-]{1,64}$/, 'must be like "_INBOX_<identity>"')
      .optional(),
    NATS_TLS_CA: readableFile('CA certificate'),
    NATS_TLS_CERT: readableFile('client certificate'),
    NATS_TLS_KEY: readableFile('client key'),
    NATS_STREAM_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
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
  nats: NatsConfig;
  database: { url: string; poolMax: number };
  logLevel: string;
}

export function toServiceConfig(e: z.infer<ReturnType<typeof serviceEnvSchema>>): ServiceBaseConfig {
  return {
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT },
    nats: toNatsConfig(e),
    database: { url: e.DATABASE_URL ?? '', poolMax: e.DATABASE_POOL_MAX },
    logLevel: e.LOG_LEVEL,
  };
}
