-- migrate:no-transaction
-- Built concurrently (writes keep going); IF NOT EXISTS lets a half-applied run resume.
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_tasks_creator_user_id
  ON tasks (creator_user_id) WHERE creator_user_id IS NOT NULL;
