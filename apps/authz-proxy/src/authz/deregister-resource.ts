import { Injectable } from '@nestjs/common';
import { isAdmin, type Principal } from '@agentplane/domain';
import { Idempotency } from '@agentplane/idempotency';
import { CheckAccess } from './check-access.js';
import { TuplesRepository, type Tx } from './tuples.repository.js';

/** `authz.v1.deregister`: every tuple of the resource, grants included, in one transaction; idempotent. */
@Injectable()
export class DeregisterResource {
  constructor(
    private readonly tuples: TuplesRepository,
    private readonly access: CheckAccess,
    private readonly idempotency: Idempotency,
  ) {}

  /**
   * Service accounts and tenant admins of the resource's tenant, or a caller allowed to `delete` it. A resource that
   * is not registered (or is another tenant's: it does not exist for the caller) is a no-op, so a retry succeeds.
   */
  async execute(principal: Principal, input: { resource: string }): Promise<null> {
    const registered = (await this.tuples.tenantOf(input.resource)) === principal.tenantId;
    if (registered && principal.kind !== 'service_account' && !isAdmin(principal)) await this.access.require(principal, 'delete', input.resource);
    await this.tuples.transaction(async (tx) => {
      if (registered) await this.apply(tx, input.resource);
      // the no-op answers through the request's key too (a retry after the first took effect): never left unanswered
      await this.idempotency.completeWithin(tx, null);
    });
    return null;
  }

  apply(tx: Tx, resource: string): Promise<number> {
    return this.tuples.deregister(tx, resource);
  }
}
