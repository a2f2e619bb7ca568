/** The table a service's migrations create for its keys (see idempotencyTableSql). */
export const DEFAULT_TABLE = 'idempotency_keys';

// 40 characters leave room for the `pk_`, `ck_…_status` and `ix_…_expires_at` names within 63.
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,39}$/;

/** A table name goes into SQL text (identifiers cannot be bound), so only a plain lower-case identifier passes. */
export function assertTableName(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`idempotency table name must match ${IDENTIFIER}: got "${name}"`);
  return name;
}

/**
 * The DDL of the store, for a service's own migration (`prisma/<svc>/migrations/<ts>_idempotency_keys/migration.sql`).
 * A row lives until `expires_at` (its claim's time + TTL); an in-progress row holds its key only for the lease counted
 * from `created_at`, so a crashed worker's claim lapses on its own. `claim_id` fences completion: a worker whose lease
 * was taken over cannot complete (its transaction rolls back).
 */
export function idempotencyTableSql(table = DEFAULT_TABLE): string {
  const t = assertTableName(table);
  return `CREATE TABLE ${t} (
  scope_key    text        COLLATE "C" NOT NULL,
  key          text        COLLATE "C" NOT NULL,
  payload_hash text        NOT NULL,
  status       text        NOT NULL
               CONSTRAINT ck_${t}_status CHECK (status IN ('in_progress', 'completed')),
  claim_id     uuid        NOT NULL,
  response     jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  CONSTRAINT pk_${t} PRIMARY KEY (scope_key, key)
);
-- The sweep deletes expired rows oldest first.
CREATE INDEX ix_${t}_expires_at ON ${t} (expires_at);
`;
}
