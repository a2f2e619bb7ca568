import { Injectable } from '@nestjs/common';
import { DomainError, isAdmin, subjectOf, type Principal } from '@agentplane/domain';
import type { RolloutMode } from '@agentplane/contracts';
import { TuplesRepository } from './tuples.repository.js';

/** `authz.v1.set_mode`: a tenant admin moves its own tenant between `legacy`, `shadow` and `enforce`. */
@Injectable()
export class SetTenantMode {
  constructor(private readonly tuples: TuplesRepository) {}

  async execute(principal: Principal, input: { tenantId: string; mode: RolloutMode }): Promise<{ tenantId: string; mode: RolloutMode }> {
    if (input.tenantId !== principal.tenantId || !isAdmin(principal)) {
      throw new DomainError('FORBIDDEN', 'only an admin of the tenant may set its rollout mode');
    }
    await this.tuples.setMode(input.tenantId, input.mode, subjectOf(principal));
    return { tenantId: input.tenantId, mode: input.mode };
  }
}
