-- authz-proxy: relationship tuples `resource#relation@subject`, per-tenant rollout modes, applied events.
-- Every tuple carries its resource's tenant, so no query ever needs to leave one tenant.
CREATE TABLE tuples (
  resource      text        NOT NULL,
  relation      text        NOT NULL
                CONSTRAINT ck_tuples_relation
                CHECK (relation IN ('tenant', 'owner', 'parent', 'read', 'write', 'delete', 'cancel', 'execute', 'admin')),
  subject       text        NOT NULL,
  tenant_id     text        NOT NULL,
  resource_type text        NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT tuples_pkey PRIMARY KEY (resource, relation, subject),
  CONSTRAINT ck_tuples_resource_type CHECK (resource_type = split_part(resource, ':', 1))
);
-- A resource has at most one tenant, one owner and one parent.
CREATE UNIQUE INDEX ux_tuples_structural ON tuples (resource, relation) WHERE relation IN ('tenant', 'owner', 'parent');
-- Reverse lookups: a subject's grants and ownerships, a parent's children, a tenant's resources by type (keyset).
CREATE INDEX ix_tuples_subject ON tuples (subject, relation, resource_type, resource);

CREATE TABLE tenant_modes (
  tenant_id  text        PRIMARY KEY,
  mode       text        NOT NULL CONSTRAINT ck_tenant_modes_mode CHECK (mode IN ('legacy', 'shadow', 'enforce')),
  updated_by text,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Events the JetStream consumer has applied, so a redelivery is applied once.
CREATE TABLE applied_events (
  event_id   text        PRIMARY KEY,
  subject    text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);
