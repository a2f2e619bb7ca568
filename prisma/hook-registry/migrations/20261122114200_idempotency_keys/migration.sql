-- Idempotency keys of hook-registry's mutating calls (DESIGN §7, libs/idempotency): the store, as printed by
-- idempotencyTableSql(). A new table: its plain index and constraints take no lock anyone waits on.
CREATE TABLE idempotency_keys (
  scope_key    text        COLLATE "C" NOT NULL,
  key          text        COLLATE "C" NOT NULL,
  payload_hash text        NOT NULL,
  status       text        NOT NULL
               CONSTRAINT ck_idempotency_keys_status CHECK (status IN ('in_progress', 'completed')),
  claim_id     uuid        NOT NULL,
  response     jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  CONSTRAINT pk_idempotency_keys PRIMARY KEY (scope_key, key)
);
-- The sweep deletes expired rows oldest first.
CREATE INDEX ix_idempotency_keys_expires_at ON idempotency_keys (expires_at);
