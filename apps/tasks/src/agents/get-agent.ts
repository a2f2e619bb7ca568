import { Injectable } from '@nestjs/common';
import { DomainError, type Principal } from '@agentplane/domain';
import type { Agent } from '@agentplane/contracts';
import { TaskAccess } from '../tasks/task-access.js';
import { AgentsRepository } from './agents.repository.js';
import { toAgent } from './agent.js';

@Injectable()
export class GetAgent {
  constructor(
    private readonly agents: AgentsRepository,
    private readonly access: TaskAccess,
  ) {}

  /**
   * An agent the caller may read (DESIGN §11: "only agents you may read", as the list filters): another tenant's,
   * or one the caller may not read, does not exist for it (404, as everywhere a resource is not visible).
   */
  async execute(principal: Principal, input: { id: string } | { name: string }): Promise<Agent> {
    const row = 'id' in input ? await this.agents.findInTenant(principal.tenantId, input.id) : await this.agents.findByName(principal.tenantId, input.name);
    if (!row || !(await this.access.canReadAgent(principal, row))) throw new DomainError('NOT_FOUND', 'agent not found');
    return toAgent(row);
  }
}
