import { Injectable } from '@nestjs/common';
import { DomainError, subjectOf, type Principal } from '@agentplane/domain';
import { Idempotency } from '@agentplane/idempotency';
import { deregisterWorkspace } from './authz-registration.js';
import { notFound, requireAdmin } from './workspace.js';
import { WorkspacesRepository } from './workspaces.repository.js';

/**
 * Marks a workspace removed (tenant admin). A workspace with live children is not removed (CONFLICT): the tree
 * never holds a live workspace under a removed one. A removed root drops its allowlist. The row keeps who removed it
 * and when. Removing twice is a no-op (the first remover stays).
 */
@Injectable()
export class RemoveWorkspace {
  constructor(
    private readonly repo: WorkspacesRepository,
    private readonly idempotency: Idempotency,
  ) {}

  async execute(principal: Principal, input: { id: string }): Promise<null> {
    const orgId = principal.tenantId;
    await this.repo.transaction(async (tx) => {
      const row = await tx.lockOne(orgId, input.id, 'update');
      if (!row) throw notFound();
      requireAdmin(principal, 'removing a workspace');
      if (row.status !== 'removed') {
        if (await tx.hasLiveChildren(row.id)) {
          throw new DomainError('CONFLICT', 'workspace has live children; remove them first', { id: row.id });
        }
        await tx.markRemoved(row.id, subjectOf(principal));
        await tx.clearAllowlist(orgId, row.id, subjectOf(principal));
        await deregisterWorkspace(tx, row.id);
      }
      await this.idempotency.completeWithin(tx.sql, null);
    });
    return null;
  }
}
