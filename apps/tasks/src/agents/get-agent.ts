import { Injectable } from '@nestjs/common';
import { DomainError, type Principal } from '@agentplane/domain';
import type { Agent } from '@agentplane/contracts';
import { AgentsRepository } from './agents.repository.js';
import { toAgent } from './agent.js';

@Injectable()
export class GetAgent {
  constructor(private readonly agents: AgentsRepository) {}

  /** Another tenant's agent does not exist for the caller. */
  async execute(principal: Principal, input: { id: string }): Promise<Agent> {
    const row = await this.agents.findInTenant(principal.tenantId, input.id);
    if (!row) throw new DomainError('NOT_FOUND', 'agent not found');
    return toAgent(row);
  }
}
