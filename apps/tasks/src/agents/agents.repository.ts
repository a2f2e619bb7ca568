import { Injectable } from '@nestjs/common';
import { PrismaClient, type Prisma } from '@agentplane/db-tasks';
import { inTransaction } from '@agentplane/persistence';
import type { AgentRow } from './agent.js';

export type Tx = Prisma.TransactionClient;

@Injectable()
export class AgentsRepository {
  constructor(private readonly db: PrismaClient) {}

  /** One transaction (retried on serialization failure or deadlock). */
  transaction<R>(fn: (tx: Tx) => Promise<R>): Promise<R> {
    return inTransaction(this.db, fn);
  }

  insert(row: { id: string; tenantId: string; name: string; createdBy: string | null }, tx: Tx = this.db): Promise<AgentRow> {
    return tx.agent.create({ data: row });
  }

  findInTenant(tenantId: string, id: string): Promise<AgentRow | null> {
    return this.db.agent.findFirst({ where: { id, tenantId } });
  }
}
