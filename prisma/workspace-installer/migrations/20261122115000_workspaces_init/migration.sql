-- Workspace installer (DESIGN §6): each org's workspace tree and the plugin allowlist of its root.
-- New tables: their plain indexes and constraints take no lock anyone waits on.
CREATE TABLE workspaces (
  id                uuid        PRIMARY KEY,
  org_id            text        NOT NULL,
  parent_id         uuid        REFERENCES workspaces (id),
  name              text        NOT NULL,
  kind              text        NOT NULL DEFAULT 'workspace'
                    CONSTRAINT ck_workspaces_kind CHECK (kind IN ('platform', 'workspace')),
  status            text        NOT NULL DEFAULT 'offline'
                    CONSTRAINT ck_workspaces_status CHECK (status IN ('offline', 'online', 'removed')),
  last_heartbeat_at timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  -- The platform agent is the root of its org's tree.
  CONSTRAINT ck_workspaces_platform_is_root CHECK (kind <> 'platform' OR parent_id IS NULL)
);
-- At most one live platform root per org.
CREATE UNIQUE INDEX ux_workspaces_one_platform_root ON workspaces (org_id)
  WHERE kind = 'platform' AND status <> 'removed';
-- Names are unique among live siblings; NULLS NOT DISTINCT makes all roots of an org siblings, the same as
-- (org_id, COALESCE(parent_id, '00000000-0000-0000-0000-000000000000'), name) without an expression index.
CREATE UNIQUE INDEX ux_workspaces_org_parent_name ON workspaces (org_id, parent_id, name) NULLS NOT DISTINCT
  WHERE status <> 'removed';
-- Children of a workspace (tree reads, FK checks on removal).
CREATE INDEX ix_workspaces_parent_id ON workspaces (parent_id);
-- The install locks an org's live roots.
CREATE INDEX ix_workspaces_org_roots ON workspaces (org_id) WHERE parent_id IS NULL AND status <> 'removed';
-- The heartbeat sweeper scans only online rows.
CREATE INDEX ix_workspaces_online_heartbeat ON workspaces (last_heartbeat_at) WHERE status = 'online';

-- Plugins an org allows, anchored on its root workspace; provenance kept when the install moves them.
CREATE TABLE org_plugin_allowlist (
  root_workspace_id uuid        NOT NULL REFERENCES workspaces (id),
  plugin            text        NOT NULL,
  enabled_by        text        NOT NULL,
  enabled_at        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pk_org_plugin_allowlist PRIMARY KEY (root_workspace_id, plugin)
);
