import { Injectable } from '@nestjs/common';
import { DomainError, newId, type Principal } from '@agentplane/domain';
import type { Agent } from '@agentplane/contracts';
import { isUniqueViolation } from '@agentplane/persistence';
import { AgentsRepository } from './agents.repository.js';
import { toAgent } from './agent.js';

@Injectable()
export class CreateAgent {
  constructor(private readonly agents: AgentsRepository) {}

  async execute(principal: Principal, input: { name: string }): Promise<Agent> {
    try {
      return toAgent(await this.agents.insert({ id: newId(), tenantId: principal.tenantId, name: input.name }));
    } catch (err) {
      if (isUniqueViolation(err)) throw new DomainError('CONFLICT', `an agent named "${input.name}" already exists`, { field: 'name' });
      throw err;
    }
  }
}
