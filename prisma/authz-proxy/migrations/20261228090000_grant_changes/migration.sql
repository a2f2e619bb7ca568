-- Who granted and who revoked access, and when (the audit of access: harbor #21025 "complete audit"; DESIGN §3).
-- tuples.granted_by: the subject whose authz.v1.grant made an action grant (null for the structural relations, and
-- for grants made before this migration). grant_changes: one row per grant that took effect and per revocation that
-- removed one, written in the same statement as the change; read newest first per resource
-- (authz.v1.grant_history). Kept when the resource is deregistered: an audit outlives what it audits.
-- A nullable column without a default is a catalog change only (no rewrite); grant_changes is new: no lock on
-- anything live.
ALTER TABLE tuples ADD COLUMN granted_by text;
CREATE TABLE grant_changes (
  id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id  text        NOT NULL,
  resource   text        NOT NULL,
  action     text        NOT NULL,
  subject    text        NOT NULL,
  change     text        NOT NULL CONSTRAINT ck_grant_changes_change CHECK (change IN ('granted', 'revoked')),
  changed_by text        NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ix_grant_changes_resource ON grant_changes (tenant_id, resource, id);
