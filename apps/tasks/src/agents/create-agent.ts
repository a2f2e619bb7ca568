import { Injectable } from '@nestjs/common';
import { DomainError, newId, type Principal } from '@agentplane/domain';
import type { Agent } from '@agentplane/contracts';
import { Idempotency } from '@agentplane/idempotency';
import { isUniqueViolation } from '@agentplane/persistence';
import { AgentsRepository } from './agents.repository.js';
import { toAgent } from './agent.js';

@Injectable()
export class CreateAgent {
  constructor(
    private readonly agents: AgentsRepository,
    private readonly idempotency: Idempotency,
  ) {}

  async execute(principal: Principal, input: { name: string }): Promise<Agent> {
    try {
      return await this.agents.transaction(async (tx) => {
        const agent = toAgent(await this.agents.insert({ id: newId(), tenantId: principal.tenantId, name: input.name }, tx));
        // The replayable response commits with the agent row, or neither does.
        await this.idempotency.completeWithin(tx, agent);
        return agent;
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new DomainError('CONFLICT', `an agent named "${input.name}" already exists`, { field: 'name' });
      throw err;
    }
  }
}
