-- When the fact a tuple states was written at its source (its event's outbox row), kept on parent tuples: the
-- registration's or last reparent's. Events of one resource can be applied in another order than they were written
-- (see 20261215090000_deregistered_resources), so a reparent written before the parent tuple's is stale and changes
-- nothing. Null when unknown (a call, an event without a time): older than any known time; null on every other tuple.
-- A nullable column without a default is a catalog change only (no rewrite), as tuples.granted_by was.
ALTER TABLE tuples ADD COLUMN written_at timestamptz;
