-- An outbox row may carry further messages of the same transaction (issue 19, docs/outbox.md#one-row-several-messages):
-- `more` is a JSON array of {id, subject, payload, headers}, published after the row's own message, each under its
-- own id as Nats-Msg-Id; `more_published_at` is when the relay published them. A task's create writes one row (its
-- `created` task_updated event, its registration in `more`) where it wrote two.
-- Nullable without a default: only the catalog changes, under a brief ACCESS EXCLUSIVE lock.
ALTER TABLE outbox
  ADD COLUMN more jsonb,
  ADD COLUMN more_published_at timestamptz;

-- A row with `more` is published only by a relay that published `more` too. A relay on the code before this migration
-- reads the row's own message only; its mark (which leaves more_published_at NULL) fails here, its batch rolls back,
-- and a current relay publishes the row whole (the republished messages keep their ids: JetStream drops them within
-- its duplicate window). NOT VALID: enforced for new rows at once without scanning the table under the lock; the next
-- migration validates the existing rows (none has `more`).
ALTER TABLE outbox
  ADD CONSTRAINT ck_outbox_more_published CHECK (published_at IS NULL OR more IS NULL OR more_published_at IS NOT NULL) NOT VALID;

-- Every message of the outbox, one row each, with the time it was published: the rows' own and those in `more`
-- (audits, and tests that look for an event by its subject).
CREATE VIEW outbox_messages AS
  SELECT o.id, o.subject, o.payload, o.headers, o.created_at, o.published_at
    FROM outbox o
  UNION ALL
  SELECT (m.value->>'id')::uuid, m.value->>'subject', m.value->'payload', coalesce(m.value->'headers', '{}'::jsonb), o.created_at, o.more_published_at
    FROM outbox o CROSS JOIN LATERAL jsonb_array_elements(o.more) AS m(value)
   WHERE o.more IS NOT NULL;
