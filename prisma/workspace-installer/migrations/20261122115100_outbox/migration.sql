-- Transactional outbox (DESIGN §8, docs/outbox.md): workspace registrations for authz-proxy, committed with the
-- change they describe and published to JetStream by the relay. A new table: plain index is fine.
CREATE TABLE outbox (
  id           uuid        PRIMARY KEY,
  subject      text        NOT NULL,
  payload      jsonb       NOT NULL,
  headers      jsonb       NOT NULL DEFAULT '{}',
  created_at   timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  -- squawk-ignore prefer-bigint-over-int
  attempts     integer     NOT NULL DEFAULT 0, -- publish tries: a counter, far from 2^31
  last_error   text
);
-- The relay's claim query scans only unpublished rows, oldest first.
CREATE INDEX ix_outbox_pending ON outbox (created_at) WHERE published_at IS NULL;
