-- At most one creator. NOT VALID: enforced for new rows at once, without scanning existing ones
-- under the ACCESS EXCLUSIVE lock; the next migration validates them separately.
ALTER TABLE tasks
  ADD CONSTRAINT ck_tasks_at_most_one_creator
  CHECK (num_nonnulls(creator_user_id, creator_service_account_id) <= 1) NOT VALID;
