-- migrate:no-transaction
-- Built concurrently (writes keep going); IF NOT EXISTS lets a half-applied run resume.
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_tasks_creator_service_account_id
  ON tasks (creator_service_account_id) WHERE creator_service_account_id IS NOT NULL;
