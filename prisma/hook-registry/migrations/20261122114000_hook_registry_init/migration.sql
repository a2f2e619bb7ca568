-- Hook registry (DESIGN §5): hooks, their immutable releases, the live pointer and its audit, append-only runs and
-- their outputs, conventions. New tables only: their plain indexes and constraints take no lock anyone waits on.

-- A hook is an identity (tenant + name) with a fixed output contract (feature). It always has a live release: the
-- pointer and the release reference each other, so the FK is checked at commit (DEFERRABLE INITIALLY DEFERRED).
CREATE TABLE hooks (
  id              uuid        PRIMARY KEY,
  tenant_id       text        NOT NULL,
  name            text        NOT NULL,
  feature         text        NOT NULL,
  live_release_id uuid        NOT NULL,
  created_by      text        NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ux_hooks_tenant_name ON hooks (tenant_id, name);

-- A release is immutable: version gap-free per hook (assigned under the hook's row lock), digest unique per hook.
CREATE TABLE hook_releases (
  id         uuid        PRIMARY KEY,
  hook_id    uuid        NOT NULL REFERENCES hooks (id),
  -- squawk-ignore prefer-bigint-over-int
  version    integer     NOT NULL CONSTRAINT ck_hook_releases_version CHECK (version >= 1), -- per hook, far from 2^31
  image      text        NOT NULL,
  digest     text        NOT NULL,
  config     jsonb       NOT NULL DEFAULT '{}',
  source_ref text,
  built_by   text        NOT NULL,
  built_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ux_hook_releases_hook_version ON hook_releases (hook_id, version);
CREATE UNIQUE INDEX ux_hook_releases_hook_digest ON hook_releases (hook_id, digest);

-- squawk-ignore adding-foreign-key-constraint
ALTER TABLE hooks ADD CONSTRAINT hooks_live_release_id_fkey
  FOREIGN KEY (live_release_id) REFERENCES hook_releases (id) DEFERRABLE INITIALLY DEFERRED; -- both tables are new and empty

-- Who moved a hook's live pointer, from which version to which, when and why (a new release, set_live, a deploy).
CREATE TABLE live_changes (
  id           uuid        PRIMARY KEY,
  tenant_id    text        NOT NULL,
  hook_id      uuid        NOT NULL REFERENCES hooks (id),
  -- squawk-ignore prefer-bigint-over-int
  from_version integer, -- NULL for a hook's first release
  -- squawk-ignore prefer-bigint-over-int
  to_version   integer     NOT NULL,
  reason       text        NOT NULL CONSTRAINT ck_live_changes_reason CHECK (reason IN ('release', 'set_live', 'deploy')),
  changed_by   text        NOT NULL,
  changed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_live_changes_hook ON live_changes (hook_id, changed_at, id);

-- A run snapshots the live release once at start; it is finished once, never deleted.
CREATE TABLE hook_runs (
  id          uuid        PRIMARY KEY,
  tenant_id   text        NOT NULL,
  hook_id     uuid        NOT NULL REFERENCES hooks (id),
  release_id  uuid        NOT NULL REFERENCES hook_releases (id),
  status      text        NOT NULL DEFAULT 'running'
              CONSTRAINT ck_hook_runs_status CHECK (status IN ('running', 'succeeded', 'failed')),
  started_by  text        NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  duration_ms bigint,
  -- squawk-ignore prefer-bigint-over-int
  oom_retries integer     NOT NULL DEFAULT 0 CONSTRAINT ck_hook_runs_oom_retries CHECK (oom_retries >= 0), -- a small counter
  CONSTRAINT ck_hook_runs_finished CHECK ((status = 'running') = (finished_at IS NULL) AND (finished_at IS NULL) = (duration_ms IS NULL))
);
CREATE INDEX ix_hook_runs_release_id ON hook_runs (release_id);
CREATE INDEX ix_hook_runs_hook_id ON hook_runs (hook_id, started_at);

-- Every output row names the run that produced it, hence the exact release.
CREATE TABLE outputs (
  id         uuid        PRIMARY KEY,
  tenant_id  text        NOT NULL,
  run_id     uuid        NOT NULL REFERENCES hook_runs (id),
  payload    jsonb       NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_outputs_run_id ON outputs (run_id);

-- A convention is slug-keyed and mutable: the schema and the hooks it deploys.
CREATE TABLE conventions (
  id         uuid        PRIMARY KEY,
  tenant_id  text        NOT NULL,
  slug       text        NOT NULL,
  schema     jsonb       NOT NULL,
  -- Nullable to match Prisma's scalar list; the check keeps it set.
  hook_names text[]      CONSTRAINT ck_conventions_hook_names CHECK (hook_names IS NOT NULL),
  updated_by text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ux_conventions_tenant_slug ON conventions (tenant_id, slug);

-- Immutability is enforced by the database too, not only by the absence of an update path in the code.
CREATE FUNCTION hook_registry_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER tr_hook_releases_immutable BEFORE UPDATE OR DELETE ON hook_releases
  FOR EACH ROW EXECUTE FUNCTION hook_registry_reject_change();
CREATE TRIGGER tr_hook_releases_no_truncate BEFORE TRUNCATE ON hook_releases
  FOR EACH STATEMENT EXECUTE FUNCTION hook_registry_reject_change();
CREATE TRIGGER tr_live_changes_immutable BEFORE UPDATE OR DELETE ON live_changes
  FOR EACH ROW EXECUTE FUNCTION hook_registry_reject_change();
CREATE TRIGGER tr_outputs_immutable BEFORE UPDATE OR DELETE ON outputs
  FOR EACH ROW EXECUTE FUNCTION hook_registry_reject_change();
CREATE TRIGGER tr_hook_runs_no_delete BEFORE DELETE ON hook_runs
  FOR EACH ROW EXECUTE FUNCTION hook_registry_reject_change();

-- A hook's identity and output contract are fixed; only its live pointer moves.
CREATE FUNCTION hook_registry_hooks_identity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.id <> OLD.id OR NEW.tenant_id <> OLD.tenant_id OR NEW.name <> OLD.name OR NEW.feature <> OLD.feature
     OR NEW.created_by <> OLD.created_by OR NEW.created_at <> OLD.created_at THEN
    RAISE EXCEPTION 'hooks: only live_release_id may change' USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER tr_hooks_identity BEFORE UPDATE ON hooks
  FOR EACH ROW EXECUTE FUNCTION hook_registry_hooks_identity();
CREATE TRIGGER tr_hooks_no_delete BEFORE DELETE ON hooks
  FOR EACH ROW EXECUTE FUNCTION hook_registry_reject_change();

-- A run is finished once (running → succeeded|failed); what it ran and when it started never change.
CREATE FUNCTION hook_registry_runs_finish_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status <> 'running' OR NEW.id <> OLD.id OR NEW.tenant_id <> OLD.tenant_id OR NEW.hook_id <> OLD.hook_id
     OR NEW.release_id <> OLD.release_id OR NEW.started_by <> OLD.started_by OR NEW.started_at <> OLD.started_at THEN
    RAISE EXCEPTION 'hook_runs is append-only: a run is finished once' USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER tr_hook_runs_finish_once BEFORE UPDATE ON hook_runs
  FOR EACH ROW EXECUTE FUNCTION hook_registry_runs_finish_once();
