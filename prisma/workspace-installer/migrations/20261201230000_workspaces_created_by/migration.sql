-- Who created a workspace (the owner its authz registration names), so authz-proxy can decide on a workspace whose
-- registration has not landed yet from the row itself (DESIGN §3, read-after-write). Nullable, no default: a
-- catalog-only change, no rewrite. Rows created before stay NULL (they were registered long ago).
ALTER TABLE workspaces ADD COLUMN created_by text;
