-- migrate:no-transaction
-- The sweeper's scan: running tasks by lease expiry (the running set is small; the deadline is checked on it too).
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_tasks_running_lease ON tasks (lease_expires_at) WHERE status = 'running';
