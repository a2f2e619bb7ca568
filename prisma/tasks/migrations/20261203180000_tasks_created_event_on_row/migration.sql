-- A task's `created` history entry lives on its row (issue 19): the time and runAfter of that entry, written by the
-- create's INSERT, instead of a task_events row of its own (seq 1). The history reads it from here. Tasks created
-- before this migration keep their stored seq 1 and leave both columns NULL.
-- Nullable without a default: only the catalog changes, under a brief ACCESS EXCLUSIVE lock.
ALTER TABLE tasks
  ADD COLUMN created_event_at timestamptz,
  ADD COLUMN created_run_after timestamptz;

-- Only a `created` entry may be seq 1, so a tasks instance still running the code before this migration (which numbers
-- a new-style task's first transition 1) fails that write instead of writing a second seq 1. NOT VALID: enforced for
-- new rows at once, without scanning existing ones under the lock; the next migration validates them.
ALTER TABLE task_events
  ADD CONSTRAINT ck_task_events_seq1_created CHECK (seq > 1 OR type = 'created') NOT VALID;
