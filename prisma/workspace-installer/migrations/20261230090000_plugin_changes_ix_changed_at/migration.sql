-- migrate:no-transaction
-- workspace-installer forgets plugin changes past PLUGIN_HISTORY_RETENTION_HOURS (when set), oldest first: each batch
-- a range of this index, not a walk of the table. Built without blocking the allowlist changes that write it.
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_plugin_changes_changed_at ON plugin_changes (changed_at);
