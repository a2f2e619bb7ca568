-- The worker protocol (DESIGN §4.1, issue 18): attempts, leases, retry policy, progress and errors on tasks; a
-- concurrency cap on agents; the append-only history of every transition.
-- Every new column is nullable or has a constant (or, for run_after, a non-volatile) default: PostgreSQL stores the
-- default in the catalog, nothing is rewritten, and the ACCESS EXCLUSIVE lock is held only for the catalog change.
ALTER TABLE tasks
  -- squawk-ignore prefer-bigint-over-int
  ADD COLUMN priority integer NOT NULL DEFAULT 0,
  -- squawk-ignore prefer-bigint-over-int
  ADD COLUMN attempt integer NOT NULL DEFAULT 0,
  -- squawk-ignore prefer-bigint-over-int
  ADD COLUMN max_attempts integer NOT NULL DEFAULT 3,
  ADD COLUMN run_after timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN lease_token uuid,
  ADD COLUMN lease_expires_at timestamptz,
  ADD COLUMN worker_id text,
  ADD COLUMN started_at timestamptz,
  ADD COLUMN deadline_at timestamptz,
  ADD COLUMN finished_at timestamptz,
  ADD COLUMN cancel_requested_at timestamptz,
  ADD COLUMN progress jsonb,
  ADD COLUMN error jsonb,
  -- squawk-ignore prefer-bigint-over-int
  ADD COLUMN heartbeat_timeout_seconds integer NOT NULL DEFAULT 60,
  -- squawk-ignore prefer-bigint-over-int
  ADD COLUMN timeout_seconds integer NOT NULL DEFAULT 3600,
  -- squawk-ignore prefer-bigint-over-int
  ADD COLUMN retry_initial_interval_ms integer NOT NULL DEFAULT 1000,
  ADD COLUMN retry_backoff_coefficient double precision NOT NULL DEFAULT 2,
  -- squawk-ignore prefer-bigint-over-int
  ADD COLUMN retry_maximum_interval_ms integer NOT NULL DEFAULT 60000;

-- Running tasks of an agent at once; NULL = unlimited.
-- squawk-ignore prefer-bigint-over-int
ALTER TABLE agents ADD COLUMN max_concurrency integer;

-- A new table: plain indexes are fine. No foreign key to tasks (it would lock tasks while added); a task's delete
-- removes its events in the same transaction.
CREATE TABLE task_events (
  task_id uuid        NOT NULL,
  -- squawk-ignore prefer-bigint-over-int
  seq     integer     NOT NULL, -- per task, gap-free under the task's row lock
  type    text        NOT NULL,
  at      timestamptz NOT NULL DEFAULT now(),
  data    jsonb       NOT NULL DEFAULT '{}',
  CONSTRAINT pk_task_events PRIMARY KEY (task_id, seq)
);
