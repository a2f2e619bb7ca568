-- migrate:no-transaction
-- An agent's running tasks, counted against its max_concurrency by every claim.
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_tasks_running_agent ON tasks (agent_id) WHERE status = 'running';
