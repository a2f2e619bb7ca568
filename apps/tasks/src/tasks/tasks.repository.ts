import { Injectable } from '@nestjs/common';
import { UUID_RE } from '@agentplane/domain';
import { PrismaClient } from '@agentplane/db-tasks';
import { TERMINAL_TASK_STATUSES } from '@agentplane/contracts';
import { SqlPool, inTransaction, type SqlTx } from '@agentplane/persistence';
import type { TaskRow } from './task.js';

export type Tx = SqlTx;

export interface TaskFilter {
  tenantId: string;
  agentId?: string;
  status?: string;
  creatorUserId?: string;
  creatorServiceAccountId?: string;
}

interface TaskSqlRow {
  id: string;
  tenant_id: string;
  agent_id: string;
  name: string;
  status: string;
  params: unknown;
  result: unknown;
  creator_user_id: string | null;
  creator_service_account_id: string | null;
  created_at: Date;
  updated_at: Date;
}

function toRow(r: TaskSqlRow): TaskRow {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    agentId: r.agent_id,
    name: r.name,
    status: r.status,
    params: r.params,
    result: r.result,
    creatorUserId: r.creator_user_id,
    creatorServiceAccountId: r.creator_service_account_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

const first = (rows: TaskSqlRow[]): TaskRow | null => (rows[0] ? toRow(rows[0]) : null);

/**
 * The only file that touches the tasks table. Single-row reads and every write are SQL on plain `pg` (`SqlPool`):
 * they sit on the create/cancel/delete paths, where Prisma's per-query cost was most of the service's own CPU
 * (tools/bench/tasks). The keyset page, with its optional filters, stays a Prisma query.
 */
@Injectable()
export class TasksRepository {
  constructor(
    private readonly db: PrismaClient,
    private readonly sql: SqlPool,
  ) {}

  /** One transaction (retried on serialization failure or deadlock). */
  transaction<R>(fn: (tx: Tx) => Promise<R>): Promise<R> {
    return inTransaction(this.sql, fn);
  }

  /** created_at is set here, at millisecond precision, so the keyset cursor (a JS Date) compares exactly. */
  async insert(tx: Tx, row: Omit<TaskRow, 'createdAt' | 'updatedAt' | 'status' | 'result'>): Promise<TaskRow> {
    const now = new Date();
    const rows = await tx.$queryRaw<TaskSqlRow[]>`
      INSERT INTO tasks (id, tenant_id, agent_id, name, params, creator_user_id, creator_service_account_id, created_at, updated_at)
      VALUES (${row.id}::uuid, ${row.tenantId}, ${row.agentId}::uuid, ${row.name}, ${JSON.stringify(row.params)}::jsonb,
              ${row.creatorUserId}, ${row.creatorServiceAccountId}, ${now}, ${now})
      RETURNING id, tenant_id, agent_id, name, status, params, result, creator_user_id, creator_service_account_id, created_at, updated_at`;
    return toRow(rows[0]);
  }

  async findById(tenantId: string, id: string): Promise<TaskRow | null> {
    if (!UUID_RE.test(id)) return null;
    return first(await this.sql.$queryRaw<TaskSqlRow[]>`
      SELECT id, tenant_id, agent_id, name, status, params, result, creator_user_id, creator_service_account_id, created_at, updated_at
        FROM tasks WHERE id = ${id}::uuid AND tenant_id = ${tenantId}`);
  }

  async findByName(tenantId: string, name: string): Promise<TaskRow | null> {
    return first(await this.sql.$queryRaw<TaskSqlRow[]>`
      SELECT id, tenant_id, agent_id, name, status, params, result, creator_user_id, creator_service_account_id, created_at, updated_at
        FROM tasks WHERE tenant_id = ${tenantId} AND name = ${name}`);
  }

  async agentInTenant(tenantId: string, agentId: string): Promise<{ id: string; createdBy: string | null } | null> {
    if (!UUID_RE.test(agentId)) return null;
    const rows = await this.sql.$queryRaw<Array<{ id: string; createdBy: string | null }>>`
      SELECT id, created_by AS "createdBy" FROM agents WHERE id = ${agentId}::uuid AND tenant_id = ${tenantId}`;
    return rows[0] ?? null;
  }

  /** The tenant's agents and tasks, counted (authz tenant status: rows against registrations). */
  async countsInTenant(tenantId: string): Promise<{ agent: number; task: number }> {
    const rows = await this.sql.$queryRaw<Array<{ agent: number; task: number }>>`
      SELECT (SELECT count(*) FROM agents WHERE tenant_id = ${tenantId})::int AS agent,
             (SELECT count(*) FROM tasks WHERE tenant_id = ${tenantId})::int AS task`;
    return rows[0] ?? { agent: 0, task: 0 };
  }

  /** One keyset page, newest first: rows strictly after `after` in (created_at DESC, id DESC). */
  page(filter: TaskFilter, after: { createdAt: Date; id: string } | null, take: number): Promise<TaskRow[]> {
    return this.db.task.findMany({
      where: {
        ...filter,
        ...(after ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] } : {}),
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take,
    });
  }

  /** Cancels unless already terminal, atomically; null when the row was terminal (or gone). */
  async cancel(tx: Tx, tenantId: string, id: string): Promise<TaskRow | null> {
    return first(await tx.$queryRaw<TaskSqlRow[]>`
      UPDATE tasks SET status = 'canceled', updated_at = ${new Date()}
       WHERE id = ${id}::uuid AND tenant_id = ${tenantId} AND status <> ALL(${[...TERMINAL_TASK_STATUSES]}::text[])
      RETURNING id, tenant_id, agent_id, name, status, params, result, creator_user_id, creator_service_account_id, created_at, updated_at`);
  }

  async delete(tx: Tx, tenantId: string, id: string): Promise<boolean> {
    return (await tx.$executeRaw`DELETE FROM tasks WHERE id = ${id}::uuid AND tenant_id = ${tenantId}`) === 1;
  }
}
