-- migrate:no-transaction
-- VALIDATE scans the table under SHARE UPDATE EXCLUSIVE only: reads and writes keep going.
ALTER TABLE outbox VALIDATE CONSTRAINT ck_outbox_more_published;
