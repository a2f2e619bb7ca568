import { Injectable } from '@nestjs/common';
import { PrismaClient, type Prisma } from '@agentplane/db-tasks';
import { TERMINAL_TASK_STATUSES } from '@agentplane/contracts';
import { inTransaction } from '@agentplane/persistence';
import type { TaskRow } from './task.js';

export type Tx = Prisma.TransactionClient;

export interface TaskFilter {
  tenantId: string;
  agentId?: string;
  status?: string;
  creatorUserId?: string;
  creatorServiceAccountId?: string;
}

@Injectable()
export class TasksRepository {
  constructor(private readonly db: PrismaClient) {}

  /** One transaction (retried on serialization failure or deadlock). */
  transaction<R>(fn: (tx: Tx) => Promise<R>): Promise<R> {
    return inTransaction(this.db, fn);
  }

  /** created_at is set here, at millisecond precision, so the keyset cursor (a JS Date) compares exactly. */
  insert(tx: Tx, row: Omit<TaskRow, 'createdAt' | 'updatedAt' | 'status' | 'result'>): Promise<TaskRow> {
    const now = new Date();
    return tx.task.create({
      data: {
        id: row.id,
        tenantId: row.tenantId,
        agentId: row.agentId,
        name: row.name,
        params: row.params as object,
        creatorUserId: row.creatorUserId,
        creatorServiceAccountId: row.creatorServiceAccountId,
        createdAt: now,
        updatedAt: now,
      },
    });
  }

  findById(tenantId: string, id: string): Promise<TaskRow | null> {
    return this.db.task.findFirst({ where: { id, tenantId } });
  }

  findByName(tenantId: string, name: string): Promise<TaskRow | null> {
    return this.db.task.findFirst({ where: { tenantId, name } });
  }

  agentInTenant(tenantId: string, agentId: string): Promise<{ id: string; createdBy: string | null } | null> {
    return this.db.agent.findFirst({ where: { id: agentId, tenantId }, select: { id: true, createdBy: true } });
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
    const rows = await tx.task.updateManyAndReturn({
      where: { id, tenantId, status: { notIn: [...TERMINAL_TASK_STATUSES] } },
      data: { status: 'canceled', updatedAt: new Date() },
    });
    return rows[0] ?? null;
  }

  async delete(tx: Tx, tenantId: string, id: string): Promise<boolean> {
    const { count } = await tx.task.deleteMany({ where: { id, tenantId } });
    return count === 1;
  }
}
