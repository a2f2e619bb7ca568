-- A live change's time is the database's clock when its row is written, which is under the hook's row lock: a hook's
-- changes then sort as they took effect. Prisma's now() default stamped it with the clock of whichever instance made
-- the change, so two instances whose clocks differ could list a later move before an earlier one (as grant_changes
-- and plugin_changes already are, clock_timestamp()). A new default only: no row is rewritten, the lock is brief.
ALTER TABLE live_changes ALTER COLUMN changed_at SET DEFAULT clock_timestamp();
