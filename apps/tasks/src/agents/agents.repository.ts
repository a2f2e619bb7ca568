import { Injectable } from '@nestjs/common';
import { PrismaClient } from '@agentplane/db-tasks';
import type { AgentRow } from './agent.js';

@Injectable()
export class AgentsRepository {
  constructor(private readonly db: PrismaClient) {}

  insert(row: { id: string; tenantId: string; name: string }): Promise<AgentRow> {
    return this.db.agent.create({ data: row });
  }

  findInTenant(tenantId: string, id: string): Promise<AgentRow | null> {
    return this.db.agent.findFirst({ where: { id, tenantId } });
  }
}
