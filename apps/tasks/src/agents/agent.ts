import type { Agent } from '@agentplane/contracts';

export interface AgentRow {
  id: string;
  tenantId: string;
  name: string;
  createdAt: Date;
}

export function toAgent(row: AgentRow): Agent {
  return { id: row.id, tenantId: row.tenantId, name: row.name, createdAt: row.createdAt.toISOString() };
}
