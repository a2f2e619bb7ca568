-- migrate:no-transaction
-- authz-proxy forgets grant changes past AUTHZ_GRANT_HISTORY_RETENTION_HOURS (when set), oldest first: each batch a
-- range of this index, not a walk of the table. Built without blocking the grants and revocations that write it.
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_grant_changes_changed_at ON grant_changes (changed_at);
