-- migrate:no-transaction
-- VALIDATE scans the table under SHARE UPDATE EXCLUSIVE only: reads and writes keep going.
ALTER TABLE task_events VALIDATE CONSTRAINT ck_task_events_seq1_created;
