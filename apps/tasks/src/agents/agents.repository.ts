import { Injectable } from '@nestjs/common';
import { UUID_RE } from '@agentplane/domain';
import { SqlPool, inTransaction, type SqlTx } from '@agentplane/persistence';
import type { AgentRow } from './agent.js';

export type Tx = SqlTx;

interface AgentSqlRow {
  id: string;
  tenant_id: string;
  name: string;
  max_concurrency: number | null;
  created_by: string | null;
  created_at: Date;
}

const toRow = (r: AgentSqlRow): AgentRow => ({
  id: r.id,
  tenantId: r.tenant_id,
  name: r.name,
  maxConcurrency: r.max_concurrency,
  createdBy: r.created_by,
  createdAt: r.created_at,
});

/** The only file that touches the agents table: plain `pg` (`SqlPool`), like the tasks' create path. */
@Injectable()
export class AgentsRepository {
  constructor(private readonly sql: SqlPool) {}

  /** One transaction (retried on serialization failure or deadlock). */
  transaction<R>(fn: (tx: Tx) => Promise<R>): Promise<R> {
    return inTransaction(this.sql, fn);
  }

  async insert(row: { id: string; tenantId: string; name: string; maxConcurrency: number | null; createdBy: string | null }, tx: Tx = this.sql): Promise<AgentRow> {
    const rows = await tx.$queryRaw<AgentSqlRow[]>`
      INSERT INTO agents (id, tenant_id, name, max_concurrency, created_by) VALUES (${row.id}::uuid, ${row.tenantId}, ${row.name}, ${row.maxConcurrency}, ${row.createdBy})
      RETURNING id, tenant_id, name, max_concurrency, created_by, created_at`;
    const created = rows[0];
    if (!created) throw new Error(`agent ${row.id}: the INSERT returned no row`);
    return toRow(created);
  }

  async findByName(tenantId: string, name: string): Promise<AgentRow | null> {
    const rows = await this.sql.$queryRaw<AgentSqlRow[]>`
      SELECT id, tenant_id, name, max_concurrency, created_by, created_at FROM agents WHERE tenant_id = ${tenantId} AND name = ${name}`;
    return rows[0] ? toRow(rows[0]) : null;
  }

  async findInTenant(tenantId: string, id: string): Promise<AgentRow | null> {
    if (!UUID_RE.test(id)) return null;
    const rows = await this.sql.$queryRaw<AgentSqlRow[]>`
      SELECT id, tenant_id, name, max_concurrency, created_by, created_at FROM agents WHERE id = ${id}::uuid AND tenant_id = ${tenantId}`;
    return rows[0] ? toRow(rows[0]) : null;
  }

  /** A keyset page of the tenant's agents by name (ux_agents_tenant_name), after `afterName`. */
  async page(tenantId: string, afterName: string, take: number): Promise<AgentRow[]> {
    const rows = await this.sql.$queryRaw<AgentSqlRow[]>`
      SELECT id, tenant_id, name, max_concurrency, created_by, created_at FROM agents
       WHERE tenant_id = ${tenantId} AND name > ${afterName} ORDER BY name LIMIT ${take}`;
    return rows.map(toRow);
  }
}
