import { z } from 'zod';
import { authEnvSchema, toAuthConfig, type AuthConfig } from '@agentplane/auth';
import { idempotencyEnvSchema, toIdempotencyConfig, type IdempotencyConfig } from '@agentplane/idempotency';
import { parseEnv, serviceEnvSchema, toServiceConfig, type ServiceBaseConfig } from '@agentplane/observability';

export const SERVICE = 'workspace-installer';

const installerEnvSchema = z.object({
  /** A workspace without a heartbeat for this long is offline (reads compute it; the sweeper stores it). */
  HEARTBEAT_SILENCE_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  /** How often the sweeper marks silent workspaces offline. */
  HEARTBEAT_SWEEP_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(3_600).default(15),
  HEARTBEAT_SWEEPER: z.enum(['on', 'off']).default('on'),
  /** Publish the outbox (authz registrations) from this process. */
  OUTBOX_RELAY: z.enum(['on', 'off']).default('on'),
});

const schema = serviceEnvSchema({ httpPort: 3003, databaseName: 'agentplane_workspace_installer' }).and(authEnvSchema).and(idempotencyEnvSchema).and(installerEnvSchema);

export interface HeartbeatSettings {
  silenceSeconds: number;
  sweepIntervalSeconds: number;
  sweeperEnabled: boolean;
}

export interface ServiceConfig extends ServiceBaseConfig {
  auth: AuthConfig;
  heartbeat: HeartbeatSettings;
  outboxRelay: boolean;
  /** IDEMPOTENCY_TTL_SECONDS, IDEMPOTENCY_LEASE_SECONDS, IDEMPOTENCY_REQUIRED, IDEMPOTENCY_SWEEP_INTERVAL_SECONDS. */
  idempotency: IdempotencyConfig;
}

/** Injection token of HeartbeatSettings. */
export const HEARTBEAT_SETTINGS = Symbol('HEARTBEAT_SETTINGS');

/** The only reader of process.env in this app. */
export function loadConfig(env: Record<string, string | undefined> = process.env): ServiceConfig {
  const e = parseEnv(schema, env);
  return {
    ...toServiceConfig(e),
    auth: toAuthConfig(e),
    heartbeat: {
      silenceSeconds: e.HEARTBEAT_SILENCE_SECONDS,
      sweepIntervalSeconds: e.HEARTBEAT_SWEEP_INTERVAL_SECONDS,
      sweeperEnabled: e.HEARTBEAT_SWEEPER === 'on',
    },
    outboxRelay: e.OUTBOX_RELAY === 'on',
    idempotency: toIdempotencyConfig(e),
  };
}
