import { z } from 'zod';
import { ROLLOUT_MODES, type RolloutMode } from '@agentplane/contracts';
import { parseEnv } from '@agentplane/observability';
import { databaseServiceEnvSchema, toDatabaseServiceConfig, type DatabaseServiceConfig } from '@agentplane/service-shell';

export const SERVICE = 'authz-proxy';

const authzEnvSchema = z.object({
  /** Rollout mode of a tenant that has none set (DESIGN §3). */
  AUTHZ_DEFAULT_MODE: z.enum(ROLLOUT_MODES).default('enforce'),
  /** How many `parent` hops a grant is inherited through (and the deepest tree register accepts). */
  AUTHZ_MAX_DEPTH: z.coerce.number().int().min(1).max(32).default(8),
  /** Consume `events.*.resource_(de)registered` from JetStream. */
  AUTHZ_EVENTS: z.enum(['on', 'off']).default('on'),
  AUTHZ_EVENTS_DURABLE: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('authz-proxy'),
  /** How long JetStream waits for an ack before it redelivers an event. */
  AUTHZ_EVENTS_ACK_WAIT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  /**
   * How long authz-proxy waits for the owning service's facts of a resource it has no registration for yet (a fresh
   * resource, DESIGN §3); no answer in time decides as unregistered (not_found).
   */
  AUTHZ_RESOURCE_FACTS_TIMEOUT_MS: z.coerce.number().int().min(50).max(30_000).default(2_000),
  /**
   * A lookup also lists the resources whose registration was published this recently, or not yet, unless already
   * applied here (DESIGN §3): how long after its publication an event may still be on its way to this consumer (a
   * rolling restart of authz-proxy pauses it for seconds).
   */
  AUTHZ_LOOKUP_PENDING_WINDOW_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  /**
   * How often authz-proxy publishes its revision beacon (DESIGN §3, the decision cache): the revisions bumped in the
   * last AUTHZ_REVISION_BEACON_WINDOW_MS. A service uses its cached decisions only while it has heard one lately.
   */
  AUTHZ_REVISION_BEACON_MS: z.coerce.number().int().min(10).max(10_000).default(100),
  AUTHZ_REVISION_BEACON_WINDOW_MS: z.coerce.number().int().min(1_000).max(600_000).default(10_000),
  /**
   * Hours an applied event's id is remembered (to ignore its redelivery). Longer than the events stream keeps a
   * message (7 days) and than any relay outage, so no stale copy of an event can arrive after its id is forgotten.
   */
  AUTHZ_APPLIED_EVENTS_RETENTION_HOURS: z.coerce.number().int().min(168).max(87_600).default(720),
  /** Hours a grant change (the audit `grant_history` reads) is kept; 0 keeps every one. */
  AUTHZ_GRANT_HISTORY_RETENTION_HOURS: z.coerce.number().int().min(0).max(87_600).default(0),
});

const schema = databaseServiceEnvSchema({ httpPort: 3004, databaseName: 'agentplane_authz_proxy' }).and(authzEnvSchema);

/** What decisions depend on besides the tuples (DESIGN §3, the decision cache): a service keeps none across a change of it. */
export function decisionEpoch(s: Pick<AuthzSettings, 'defaultMode' | 'maxDepth'>): string {
  return `${s.defaultMode}-${s.maxDepth}`;
}

export interface AuthzSettings {
  defaultMode: RolloutMode;
  maxDepth: number;
  resourceFactsTimeoutMs: number;
  lookupPendingWindowMs: number;
  revisionBeacon: { everyMs: number; windowMs: number };
  events: { enabled: boolean; durable: string; ackWaitMs: number; appliedRetentionHours: number };
  /** 0: every grant change is kept. */
  grantHistoryRetentionHours: number;
}

export interface ServiceConfig extends DatabaseServiceConfig {
  authz: AuthzSettings;
}

/** The only reader of process.env in this app. */
export function loadConfig(env: Record<string, string | undefined> = process.env): ServiceConfig {
  const e = parseEnv(schema, env);
  return {
    ...toDatabaseServiceConfig(e),
    authz: {
      defaultMode: e.AUTHZ_DEFAULT_MODE,
      maxDepth: e.AUTHZ_MAX_DEPTH,
      resourceFactsTimeoutMs: e.AUTHZ_RESOURCE_FACTS_TIMEOUT_MS,
      lookupPendingWindowMs: e.AUTHZ_LOOKUP_PENDING_WINDOW_MS,
      revisionBeacon: { everyMs: e.AUTHZ_REVISION_BEACON_MS, windowMs: e.AUTHZ_REVISION_BEACON_WINDOW_MS },
      events: {
        enabled: e.AUTHZ_EVENTS === 'on',
        durable: e.AUTHZ_EVENTS_DURABLE,
        ackWaitMs: e.AUTHZ_EVENTS_ACK_WAIT_MS,
        appliedRetentionHours: e.AUTHZ_APPLIED_EVENTS_RETENTION_HOURS,
      },
      grantHistoryRetentionHours: e.AUTHZ_GRANT_HISTORY_RETENTION_HOURS,
    },
  };
}

/** Injection token of AuthzSettings. */
export const AUTHZ_SETTINGS = Symbol('AUTHZ_SETTINGS');
