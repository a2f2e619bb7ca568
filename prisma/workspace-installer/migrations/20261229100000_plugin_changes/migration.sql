-- The audit of plugin allowlists (harbor #21025 "complete audit"): one row per change that took effect, written in the
-- same statement as the change. `enabled` and `disabled` by an admin (a root's removal disables what it allowed);
-- `moved_out` and `moved_in` when the platform agent's install carries the former roots' allowlists onto its own.
-- Read newest first per workspace (workspaces.v1.list_plugin_changes). No foreign key: an audit outlives what it
-- audits, and a new table locks nothing live.
CREATE TABLE plugin_changes (
  id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id            text        NOT NULL,
  root_workspace_id uuid        NOT NULL,
  plugin            text        NOT NULL,
  change            text        NOT NULL CONSTRAINT ck_plugin_changes_change CHECK (change IN ('enabled', 'disabled', 'moved_out', 'moved_in')),
  changed_by        text        NOT NULL,
  changed_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ix_plugin_changes_root ON plugin_changes (root_workspace_id, id);
