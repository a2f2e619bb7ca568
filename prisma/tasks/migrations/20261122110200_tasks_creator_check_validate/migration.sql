-- migrate:no-transaction
-- VALIDATE scans the table under SHARE UPDATE EXCLUSIVE only: reads and writes keep going.
ALTER TABLE tasks VALIDATE CONSTRAINT ck_tasks_at_most_one_creator;
