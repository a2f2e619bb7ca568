-- migrate:no-transaction
-- Keyset pagination of a tenant's tasks, newest first.
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_tasks_tenant_created ON tasks (tenant_id, created_at DESC, id DESC);
