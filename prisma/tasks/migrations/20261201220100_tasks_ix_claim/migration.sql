-- migrate:no-transaction
-- A claim (DESIGN §4.1) is one probe of this index: an agent's pending tasks, highest priority first, then by when
-- they became claimable.
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_tasks_claim ON tasks (agent_id, priority DESC, run_after, created_at) WHERE status = 'pending';
