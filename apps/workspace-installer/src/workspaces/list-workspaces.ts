import { Injectable } from '@nestjs/common';
import type { Workspace } from '@agentplane/contracts';
import { DomainError, UUID_RE, type Principal } from '@agentplane/domain';
import { toWorkspace, type WorkspaceStatus } from './workspace.js';
import { WorkspacesRepository } from './workspaces.repository.js';

/**
 * The org's live workspaces, or those of one status (`removed` among them), optionally one parent's children, in id
 * order; the cursor is the last id seen.
 */
@Injectable()
export class ListWorkspaces {
  constructor(private readonly repo: WorkspacesRepository) {}

  async execute(principal: Principal, input: { parentId?: string; status?: WorkspaceStatus; limit: number; cursor?: string }): Promise<{ items: Workspace[]; nextCursor: string | null }> {
    if (input.cursor !== undefined && !UUID_RE.test(input.cursor)) {
      throw new DomainError('VALIDATION', 'cursor: invalid', { issues: [{ path: 'cursor', message: 'invalid cursor' }] });
    }
    const rows = await this.repo.list(principal.tenantId, { parentId: input.parentId, status: input.status, limit: input.limit + 1, after: input.cursor });
    const items = rows.slice(0, input.limit).map(toWorkspace);
    return { items, nextCursor: rows.length > input.limit ? items[items.length - 1].id : null };
  }
}
