import { z } from 'zod';
import { assertTableName, DEFAULT_TABLE } from './table.js';

export const TTL_MIN_SECONDS = 3_600;
export const TTL_MAX_SECONDS = 604_800;
export const TTL_DEFAULT_SECONDS = 86_400;
export const LEASE_DEFAULT_SECONDS = 30;

export interface IdempotencyConfig {
  /** How long a completed response is replayed: 1 h to 7 d, default 24 h. */
  ttlSeconds: number;
  /** How long an in-progress claim blocks its key; a crashed worker's claim lapses after it. Longer than a handler may run. */
  leaseSeconds: number;
  /** A mutating call without a key is refused with VALIDATION (400). */
  required: boolean;
  /** The store table (a strict identifier; the service's migration creates it). */
  table: string;
  /** Seconds between sweeps of expired rows; 0 turns the sweep off. */
  sweepIntervalSeconds: number;
  /** Rows deleted per sweep statement. */
  sweepBatchSize: number;
  /**
   * Store a response in its use case's compact form where the use case offers one (ResponseCodec). Off: every
   * response is stored whole. Replays read both forms either way.
   */
  packResponses: boolean;
}

/** Fills defaults and refuses out-of-range values (thrown at start, like any bad configuration). */
export function idempotencyConfig(input: Partial<IdempotencyConfig> = {}): IdempotencyConfig {
  const c: IdempotencyConfig = {
    ttlSeconds: input.ttlSeconds ?? TTL_DEFAULT_SECONDS,
    leaseSeconds: input.leaseSeconds ?? LEASE_DEFAULT_SECONDS,
    required: input.required ?? false,
    table: assertTableName(input.table ?? DEFAULT_TABLE),
    sweepIntervalSeconds: input.sweepIntervalSeconds ?? 60,
    sweepBatchSize: input.sweepBatchSize ?? 1_000,
    packResponses: input.packResponses ?? true,
  };
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new Error(`idempotency config: ${what}`);
  };
  check(Number.isInteger(c.ttlSeconds) && c.ttlSeconds >= TTL_MIN_SECONDS && c.ttlSeconds <= TTL_MAX_SECONDS, `ttlSeconds must be an integer in [${TTL_MIN_SECONDS}, ${TTL_MAX_SECONDS}]`);
  check(Number.isInteger(c.leaseSeconds) && c.leaseSeconds >= 1 && c.leaseSeconds <= 3_600, 'leaseSeconds must be an integer in [1, 3600]');
  check(Number.isInteger(c.sweepIntervalSeconds) && c.sweepIntervalSeconds >= 0, 'sweepIntervalSeconds must be a non-negative integer');
  check(Number.isInteger(c.sweepBatchSize) && c.sweepBatchSize >= 1 && c.sweepBatchSize <= 100_000, 'sweepBatchSize must be an integer in [1, 100000]');
  return c;
}

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** The idempotency part of a service's environment. Merge into the app's config schema (`.and(idempotencyEnvSchema)`). */
export const idempotencyEnvSchema = z.object({
  IDEMPOTENCY_TTL_SECONDS: z.coerce.number().int().min(TTL_MIN_SECONDS).max(TTL_MAX_SECONDS).default(TTL_DEFAULT_SECONDS),
  IDEMPOTENCY_LEASE_SECONDS: z.coerce.number().int().min(1).max(3_600).default(LEASE_DEFAULT_SECONDS),
  IDEMPOTENCY_REQUIRED: bool.default(false),
  IDEMPOTENCY_SWEEP_INTERVAL_SECONDS: z.coerce.number().int().min(0).max(86_400).default(60),
  IDEMPOTENCY_PACKED_RESPONSES: bool.default(true),
});

export type IdempotencyEnv = z.infer<typeof idempotencyEnvSchema>;

export function toIdempotencyConfig(env: IdempotencyEnv, table = DEFAULT_TABLE): IdempotencyConfig {
  return idempotencyConfig({
    ttlSeconds: env.IDEMPOTENCY_TTL_SECONDS,
    leaseSeconds: env.IDEMPOTENCY_LEASE_SECONDS,
    required: env.IDEMPOTENCY_REQUIRED,
    sweepIntervalSeconds: env.IDEMPOTENCY_SWEEP_INTERVAL_SECONDS,
    packResponses: env.IDEMPOTENCY_PACKED_RESPONSES,
    table,
  });
}
