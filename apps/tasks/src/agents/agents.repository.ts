import { Injectable } from '@nestjs/common';
import { UUID_RE } from '@agentplane/domain';
import { SqlPool, inTransaction, type SqlTx } from '@agentplane/persistence';
import type { AgentRow } from './agent.js';

export type Tx = SqlTx;

const AGENT = 'id, tenant_id AS "tenantId", name, created_at AS "createdAt"';

/** The only file that touches the agents table: plain `pg` (`SqlPool`), like the tasks' create path. */
@Injectable()
export class AgentsRepository {
  constructor(private readonly sql: SqlPool) {}

  /** One transaction (retried on serialization failure or deadlock). */
  transaction<R>(fn: (tx: Tx) => Promise<R>): Promise<R> {
    return inTransaction(this.sql, fn);
  }

  async insert(row: { id: string; tenantId: string; name: string; createdBy: string | null }, tx: Tx = this.sql): Promise<AgentRow> {
    const rows = await tx.$queryRawUnsafe<AgentRow[]>(
      `INSERT INTO agents (id, tenant_id, name, created_by) VALUES ($1::uuid, $2, $3, $4) RETURNING ${AGENT}`,
      row.id,
      row.tenantId,
      row.name,
      row.createdBy,
    );
    return rows[0];
  }

  async findInTenant(tenantId: string, id: string): Promise<AgentRow | null> {
    if (!UUID_RE.test(id)) return null;
    const rows = await this.sql.$queryRawUnsafe<AgentRow[]>(`SELECT ${AGENT} FROM agents WHERE id = $1::uuid AND tenant_id = $2`, id, tenantId);
    return rows[0] ?? null;
  }
}
