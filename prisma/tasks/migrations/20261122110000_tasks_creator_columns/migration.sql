-- Creator audit columns (DESIGN §4): who created a task, a user or a service account.
-- Nullable, no default: adding them only touches the catalog, the ACCESS EXCLUSIVE lock is brief.
ALTER TABLE tasks
  ADD COLUMN creator_user_id text,
  ADD COLUMN creator_service_account_id text;
