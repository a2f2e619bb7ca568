import { z } from 'zod';
import { outboxEnvSchema, toOutboxConfig, type OutboxConfig } from '@agentplane/messaging';
import { parseEnv } from '@agentplane/observability';
import { databaseServiceEnvSchema, toDatabaseServiceConfig, type DatabaseServiceConfig } from '@agentplane/service-shell';

export const SERVICE = 'workspace-installer';

const installerEnvSchema = z.object({
  /** A workspace without a heartbeat for this long is offline (reads compute it; the sweeper stores it). */
  HEARTBEAT_SILENCE_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  /** How often the sweeper marks silent workspaces offline. */
  HEARTBEAT_SWEEP_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(3_600).default(15),
  HEARTBEAT_SWEEPER: z.enum(['on', 'off']).default('on'),
  /** Hours a plugin change (the allowlist's audit, list_plugin_changes) is kept; 0 keeps every one. */
  PLUGIN_HISTORY_RETENTION_HOURS: z.coerce.number().int().min(0).max(87_600).default(0),
});

// OUTBOX_RELAY: publish the outbox (authz registrations) from this process.
const schema = databaseServiceEnvSchema({ httpPort: 3003, databaseName: 'agentplane_workspace_installer' }).and(installerEnvSchema).and(outboxEnvSchema);

export interface HeartbeatSettings {
  silenceSeconds: number;
  sweepIntervalSeconds: number;
  sweeperEnabled: boolean;
}

export interface PluginHistorySettings {
  /** 0: every plugin change is kept. */
  retentionHours: number;
}

export interface ServiceConfig extends DatabaseServiceConfig, OutboxConfig {
  heartbeat: HeartbeatSettings;
  pluginHistory: PluginHistorySettings;
}

/** Injection token of HeartbeatSettings. */
export const HEARTBEAT_SETTINGS = Symbol('HEARTBEAT_SETTINGS');
/** Injection token of PluginHistorySettings. */
export const PLUGIN_HISTORY_SETTINGS = Symbol('PLUGIN_HISTORY_SETTINGS');

/** The only reader of process.env in this app. */
export function loadConfig(env: Record<string, string | undefined> = process.env): ServiceConfig {
  const e = parseEnv(schema, env);
  return {
    ...toDatabaseServiceConfig(e),
    heartbeat: {
      silenceSeconds: e.HEARTBEAT_SILENCE_SECONDS,
      sweepIntervalSeconds: e.HEARTBEAT_SWEEP_INTERVAL_SECONDS,
      sweeperEnabled: e.HEARTBEAT_SWEEPER === 'on',
    },
    pluginHistory: { retentionHours: e.PLUGIN_HISTORY_RETENTION_HOURS },
    ...toOutboxConfig(e),
  };
}
