-- Resources deregistered by an event. Events of one resource can be applied in another order than they were
-- written (each event type has its own JetStream consumer on nats-server < 2.10; any event is redelivered after a
-- failure), so a registration or reparent written before a resource's deregistration may arrive after it: it finds
-- the resource here and changes nothing. tenant_id is the resource's, when known (for its children's registrations
-- overtaken the same way); deregistered_at is when the deregistration was written (its outbox row). Pruned with the
-- applied event ids. A new table: no lock on anything live.
CREATE TABLE deregistered_resources (
  resource        text        PRIMARY KEY,
  tenant_id       text,
  deregistered_at timestamptz NOT NULL,
  applied_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_deregistered_resources_applied_at ON deregistered_resources (applied_at);
