-- migrate:no-transaction
-- Retention (TASKS_RETENTION_HOURS): the sweeper deletes ended tasks oldest first, a batch per probe of this index.
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_tasks_finished ON tasks (finished_at) WHERE status IN ('completed', 'failed', 'canceled');
