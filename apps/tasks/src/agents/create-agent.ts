import { Injectable } from '@nestjs/common';
import { DomainError, newId, resourceRef, subjectOf, type Principal } from '@agentplane/domain';
import { AuthzRegistration } from '../authz-registration.js';
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
    private readonly registration: AuthzRegistration,
  ) {}

  async execute(principal: Principal, input: { name: string; maxConcurrency?: number }): Promise<Agent> {
    const id = newId();
    const owner = principal.kind === 'system' ? undefined : subjectOf(principal);
    const event = { resource: resourceRef('agent', id), tenant: principal.tenantId, ...(owner ? { owner } : {}) };
    try {
      const created = await this.agents.transaction(async (tx) => {
        const agent = toAgent(await this.agents.insert({ id, tenantId: principal.tenantId, name: input.name, maxConcurrency: input.maxConcurrency ?? null, createdBy: owner ?? null }, tx));
        await this.registration.enqueueRegister(tx, event);
        // The replayable response commits with the agent row, or neither does.
        await this.idempotency.completeWithin(tx, agent);
        return agent;
      });
      await this.registration.registerNow(event);
      return created;
    } catch (err) {
      if (isUniqueViolation(err)) throw new DomainError('CONFLICT', `an agent named "${input.name}" already exists`, { field: 'name' });
      throw err;
    }
  }
}
