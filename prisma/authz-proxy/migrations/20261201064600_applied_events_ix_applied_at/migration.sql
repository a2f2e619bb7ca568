-- migrate:no-transaction
-- The consumer forgets applied event ids past AUTHZ_APPLIED_EVENTS_RETENTION_HOURS, oldest first.
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_applied_events_applied_at ON applied_events (applied_at);
