import type { Agent } from '@agentplane/contracts';

export interface AgentRow {
  id: string;
  tenantId: string;
  name: string;
  maxConcurrency: number | null;
  createdBy: string | null;
  createdAt: Date;
}

export function toAgent(row: AgentRow): Agent {
  return { id: row.id, tenantId: row.tenantId, name: row.name, maxConcurrency: row.maxConcurrency, createdAt: row.createdAt.toISOString() };
}
