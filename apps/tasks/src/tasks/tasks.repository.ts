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

/** The columns of TaskRow, named as its fields. */
const TASK = `id, tenant_id AS "tenantId", agent_id AS "agentId", name, status, params, result,
  creator_user_id AS "creatorUserId", creator_service_account_id AS "creatorServiceAccountId",
  created_at AS "createdAt", updated_at AS "updatedAt"`;

const SQL = {
  insert: `INSERT INTO tasks (id, tenant_id, agent_id, name, params, creator_user_id, creator_service_account_id, created_at, updated_at)
VALUES ($1::uuid, $2, $3::uuid, $4, $5::jsonb, $6, $7, $8, $8) RETURNING ${TASK}`,
  byId: `SELECT ${TASK} FROM tasks WHERE id = $1::uuid AND tenant_id = $2`,
  byName: `SELECT ${TASK} FROM tasks WHERE tenant_id = $1 AND name = $2`,
  agent: `SELECT id, created_by AS "createdBy" FROM agents WHERE id = $1::uuid AND tenant_id = $2`,
  cancel: `UPDATE tasks SET status = 'canceled', updated_at = $3 WHERE id = $1::uuid AND tenant_id = $2 AND status <> ALL($4::text[])
RETURNING ${TASK}`,
  delete: `DELETE FROM tasks WHERE id = $1::uuid AND tenant_id = $2`,
};


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
    const rows = await tx.$queryRawUnsafe<TaskRow[]>(
      SQL.insert,
      row.id,
      row.tenantId,
      row.agentId,
      row.name,
      JSON.stringify(row.params),
      row.creatorUserId,
      row.creatorServiceAccountId,
      new Date(),
    );
    return rows[0];
  }

  async findById(tenantId: string, id: string): Promise<TaskRow | null> {
    if (!UUID_RE.test(id)) return null;
    const rows = await this.sql.$queryRawUnsafe<TaskRow[]>(SQL.byId, id, tenantId);
    return rows[0] ?? null;
  }

  async findByName(tenantId: string, name: string): Promise<TaskRow | null> {
    const rows = await this.sql.$queryRawUnsafe<TaskRow[]>(SQL.byName, tenantId, name);
    return rows[0] ?? null;
  }

  async agentInTenant(tenantId: string, agentId: string): Promise<{ id: string; createdBy: string | null } | null> {
    if (!UUID_RE.test(agentId)) return null;
    const rows = await this.sql.$queryRawUnsafe<Array<{ id: string; createdBy: string | null }>>(SQL.agent, agentId, tenantId);
    return rows[0] ?? null;
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
    const rows = await tx.$queryRawUnsafe<TaskRow[]>(SQL.cancel, id, tenantId, new Date(), [...TERMINAL_TASK_STATUSES]);
    return rows[0] ?? null;
  }

  async delete(tx: Tx, tenantId: string, id: string): Promise<boolean> {
    return (await tx.$executeRawUnsafe(SQL.delete, id, tenantId)) === 1;
  }
}
