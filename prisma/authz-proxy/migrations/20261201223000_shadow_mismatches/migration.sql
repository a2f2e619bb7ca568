-- Checks in shadow mode whose fine-grained decision differed from the legacy one, per tenant (authz.v1.tenant_status:
-- a tenant moves to enforce when this stays 0). A new table: no lock on anything live.
CREATE TABLE shadow_mismatches (
  tenant_id  text        PRIMARY KEY,
  mismatches bigint      NOT NULL DEFAULT 0,
  last_at    timestamptz NOT NULL DEFAULT now()
);
