-- migrate:no-transaction
-- The relay deletes published rows past OUTBOX_RETENTION_HOURS, oldest first (libs/messaging, docs/outbox.md).
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
