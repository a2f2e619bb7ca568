import { Injectable } from '@nestjs/common';
import { subjectOf, type Principal } from '@agentplane/domain';
import { CheckAccess } from './check-access.js';
import type { GrantInput } from './grant-access.js';
import { TuplesRepository } from './tuples.repository.js';

/**
 * `authz.v1.revoke`: needs `admin` on the resource (or the tenant admin role); revoking what is not granted is a no-op.
 * A revocation that removed a grant goes in the resource's audit, with who revoked it.
 */
@Injectable()
export class RevokeAccess {
  constructor(
    private readonly tuples: TuplesRepository,
    private readonly access: CheckAccess,
  ) {}

  async execute(principal: Principal, input: GrantInput): Promise<null> {
    await this.access.require(principal, 'admin', input.resource);
    await this.tuples.revoke({ ...input, tenantId: principal.tenantId, by: subjectOf(principal) });
    return null;
  }
}
