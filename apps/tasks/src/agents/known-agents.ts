/** What access checks read of an agent: all of it fixed when the agent is created. */
export interface AgentFacts {
  id: string;
  createdBy: string | null;
  maxConcurrency: number | null;
}

/**
 * Agents found, by tenant and id, kept in this process (issue 19: a create and a claim each read their agent's row
 * before anything else, a round trip of their own). Safe without expiry or invalidation only because an agent's row
 * never changes nor goes away: no route updates or deletes agents, and its tenant, creator and max_concurrency are
 * set at its create. An agent not found is never kept (it may be created the next moment). Bounded: past `max`
 * entries the oldest is dropped. Should agents ever become editable or deletable, this must go.
 */
export class KnownAgents {
  private readonly entries = new Map<string, AgentFacts>();

  constructor(private readonly max = 10_000) {}

  async get(tenantId: string, agentId: string, read: () => Promise<AgentFacts | null>): Promise<AgentFacts | null> {
    const key = `${tenantId}\u0000${agentId}`;
    const known = this.entries.get(key);
    if (known) return known;
    const found = await read();
    if (!found) return null;
    this.entries.set(key, found);
    if (this.entries.size > this.max) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    return found;
  }

  get size(): number {
    return this.entries.size;
  }
}
