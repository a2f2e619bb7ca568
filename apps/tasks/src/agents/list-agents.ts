import { Injectable } from '@nestjs/common';
import type { Principal } from '@agentplane/domain';
import { CursorName, decodeCursor, encodeCursor, type Agent, type RequestOf, type tasksContract } from '@agentplane/contracts';
import { TaskAccess } from '../tasks/task-access.js';
import { AgentsRepository } from './agents.repository.js';
import { toAgent, type AgentRow } from './agent.js';

const SCAN_FACTOR = 5;

/** The tenant's agents the caller may read, by name, keyset-paginated (a page may be short while nextCursor is set). */
@Injectable()
export class ListAgents {
  constructor(
    private readonly agents: AgentsRepository,
    private readonly access: TaskAccess,
  ) {}

  async execute(principal: Principal, input: RequestOf<typeof tasksContract.listAgents>): Promise<{ items: Agent[]; nextCursor: string | null }> {
    // the cursor is the last name a page examined
    let after = input.cursor ? decodeCursor(input.cursor, CursorName) : '';
    const items: Agent[] = [];
    let scanned = 0;
    let last: AgentRow | undefined;
    while (items.length < input.limit && scanned < input.limit * SCAN_FACTOR) {
      const want = input.limit - items.length;
      const rows = await this.agents.page(principal.tenantId, after, want + 1);
      if (rows.length === 0) return { items, nextCursor: null };
      const batch = rows.slice(0, want);
      const readable = await Promise.all(batch.map((r) => this.access.canReadAgent(principal, r)));
      batch.forEach((r, i) => readable[i] && items.push(toAgent(r)));
      scanned += batch.length;
      last = batch[batch.length - 1];
      after = last ? last.name : after;
      if (rows.length <= want) return { items, nextCursor: null };
    }
    return { items, nextCursor: last ? encodeCursor(last.name) : null };
  }
}
