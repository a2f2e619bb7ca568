import { Injectable } from '@nestjs/common';
import { DomainError, type Principal } from '@agentplane/domain';
import { resourceTypeOf, type Action } from '@agentplane/contracts';
import { Idempotency } from '@agentplane/idempotency';
import { CheckAccess } from './check-access.js';
import { TuplesRepository } from './tuples.repository.js';

export interface GrantInput {
  subject: string;
  action: Action;
  resource: string;
}

/** `authz.v1.grant`: needs `admin` on the resource (or the tenant admin role); granting twice is one grant. */
@Injectable()
export class GrantAccess {
  constructor(
    private readonly tuples: TuplesRepository,
    private readonly access: CheckAccess,
    private readonly idempotency: Idempotency,
  ) {}

  async execute(principal: Principal, input: GrantInput): Promise<GrantInput> {
    await this.access.require(principal, 'admin', input.resource);
    await this.tuples.transaction(async (tx) => {
      // Held FOR SHARE: a concurrent deregister waits, so no grant outlives its resource.
      const tenantId = await this.tuples.lockTenantOf(tx, input.resource);
      if (tenantId !== principal.tenantId) throw new DomainError('NOT_FOUND', `${resourceTypeOf(input.resource)} not found`);
      await this.tuples.grant(tx, { ...input, tenantId });
      await this.idempotency.completeWithin(tx, input);
    });
    return input;
  }
}
