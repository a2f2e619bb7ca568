-- Tasks service: agents and tasks.
CREATE TABLE agents (
  id         uuid        PRIMARY KEY,
  tenant_id  text        NOT NULL,
  name       text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ux_agents_tenant_name ON agents (tenant_id, name);

CREATE TABLE tasks (
  id         uuid        PRIMARY KEY,
  tenant_id  text        NOT NULL,
  agent_id   uuid        NOT NULL REFERENCES agents (id),
  name       text        NOT NULL,
  status     text        NOT NULL DEFAULT 'pending'
             CONSTRAINT ck_tasks_status CHECK (status IN ('pending', 'running', 'completed', 'failed', 'canceled')),
  params     jsonb       NOT NULL DEFAULT '{}',
  result     jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ux_tasks_tenant_name ON tasks (tenant_id, name);
CREATE INDEX ix_tasks_agent_id ON tasks (agent_id, id);
