import { Injectable } from '@nestjs/common';
import type { Workspace } from '@agentplane/contracts';
import { DomainError, newId, subjectOf, type Principal } from '@agentplane/domain';
import { Idempotency } from '@agentplane/idempotency';
import { registerWorkspace } from './authz-registration.js';
import { removedConflict, toWorkspace } from './workspace.js';
import { WorkspacesRepository, isUniqueViolationError } from './workspaces.repository.js';

/**
 * Creates a workspace in the caller's org. Without a parent it goes at the top of the tree, decided under the
 * org's lock that installs take too: under the platform agent once one is installed (never a second root), else
 * as a root — which an install running after us then finds and re-parents.
 */
@Injectable()
export class CreateWorkspace {
  constructor(
    private readonly repo: WorkspacesRepository,
    private readonly idempotency: Idempotency,
  ) {}

  async execute(principal: Principal, input: { name: string; parentId?: string }): Promise<Workspace> {
    const orgId = principal.tenantId;
    try {
      return await this.repo.transaction(async (tx) => {
        let parentId: string | null;
        if (input.parentId) {
          // FOR SHARE: the parent cannot be removed, re-parented or locked by an install until we commit.
          const parent = await tx.lockOne(orgId, input.parentId, 'share');
          if (!parent) throw new DomainError('NOT_FOUND', 'parent workspace not found', { field: 'parentId' });
          if (parent.status === 'removed') {
            throw removedConflict('parent workspace is removed: it takes no children', { field: 'parentId', parentId: parent.id });
          }
          parentId = parent.id;
        } else {
          await tx.lockOrg(orgId);
          parentId = (await tx.lockPlatformRoot(orgId))?.id ?? null;
        }
        const owner = principal.kind === 'system' ? undefined : subjectOf(principal);
        const created = await tx.insert({ id: newId(), orgId, parentId, name: input.name, createdBy: owner ?? null });
        await registerWorkspace(tx, { id: created.id, orgId, parentId, owner });
        const workspace = toWorkspace(created);
        // The replayable response commits with the row, or neither does.
        await this.idempotency.completeWithin(tx.sql, workspace);
        return workspace;
      });
    } catch (err) {
      if (isUniqueViolationError(err)) {
        throw new DomainError('CONFLICT', `a workspace named "${input.name}" already exists at that place in the tree`, { field: 'name' });
      }
      throw err;
    }
  }
}
