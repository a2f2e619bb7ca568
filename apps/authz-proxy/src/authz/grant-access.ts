import { Injectable } from '@nestjs/common';
import { DomainError, subjectOf, type Principal } from '@agentplane/domain';
import { resourceTypeOf, type Action } from '@agentplane/contracts';
import { Idempotency } from '@agentplane/idempotency';
import { CheckAccess } from './check-access.js';
import { ResourceFactsClient } from './resource-facts.client.js';
import { TuplesRepository } from './tuples.repository.js';

export interface GrantInput {
  subject: string;
  action: Action;
  resource: string;
}

/**
 * `authz.v1.grant`: needs `admin` on the resource (or the tenant admin role); granting twice is one grant (`created`
 * false the second time). The grant keeps who made it, and a new one goes in the resource's audit
 * (authz.v1.grant_history) in the same statement.
 */
@Injectable()
export class GrantAccess {
  constructor(
    private readonly tuples: TuplesRepository,
    private readonly access: CheckAccess,
    private readonly resourceFacts: ResourceFactsClient,
    private readonly idempotency: Idempotency,
  ) {}

  async execute(principal: Principal, input: GrantInput): Promise<GrantInput & { created: boolean }> {
    await this.access.require(principal, 'admin', input.resource);
    return this.tuples.transaction(async (tx) => {
      // The resource's lock, which every deregistration takes before it deletes: a grant after one finds the resource
      // gone; a deregistration after this one waits for the commit, and its DELETE then sees the grant and removes it
      // (a row lock alone is not enough: a DELETE that waited on one misses the rows inserted meanwhile).
      // Grants of one resource queue here; check takes no lock.
      await this.tuples.lockResource(tx, input.resource);
      const tenantId = (await this.tuples.lockTenantOf(tx, input.resource)) ?? (await this.freshTenantOf(input.resource));
      if (tenantId !== principal.tenantId) throw new DomainError('NOT_FOUND', `${resourceTypeOf(input.resource)} not found`);
      const created = await this.tuples.grant(tx, { ...input, tenantId, grantedBy: subjectOf(principal) });
      const reply = { subject: input.subject, action: input.action, resource: input.resource, created };
      await this.idempotency.completeWithin(tx, reply);
      return reply;
    });
  }

  /**
   * The tenant of a resource not registered yet, from its owning service's committed row (DESIGN §3), asked while
   * holding the resource's lock: a deregistration can only follow the row's deletion, so if the row is there now, its
   * deregistration is applied after this grant commits (it waits for the lock) and removes the grant with the rest.
   */
  private async freshTenantOf(resource: string): Promise<string | null> {
    return (await this.resourceFacts.of(resource))?.tenant ?? null;
  }
}
