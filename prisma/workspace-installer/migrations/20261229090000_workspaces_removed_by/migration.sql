-- Who removed a workspace and when (a removed workspace stays, marked `removed`; before this it did not say by whom).
-- Nullable, no default: a catalog-only change, no rewrite and no lock beyond the moment's. Workspaces removed before
-- keep both NULL.
ALTER TABLE workspaces ADD COLUMN removed_by text, ADD COLUMN removed_at timestamptz(6);
