import { DomainError, type Principal } from '@agentplane/domain';
import { notFound, removedConflict, requireAdmin } from '../workspaces/workspace.js';
import type { LockedWorkspace } from '../workspaces/workspaces.repository.js';

/**
 * The allowlist lives on root workspaces only: the workspace must be the org's (NOT_FOUND), the caller an admin
 * (FORBIDDEN), and the workspace a live root (CONFLICT: removed, which the workspace still reads as, or naming
 * where the allowlist lives).
 */
export function assertPluginRoot(principal: Principal, row: Pick<LockedWorkspace, 'id' | 'parentId' | 'status'> | null): string {
  if (!row) throw notFound();
  requireAdmin(principal, 'managing plugins');
  if (row.status === 'removed') {
    throw removedConflict('workspace is removed: it allows no plugin', { id: row.id });
  }
  if (row.parentId !== null) {
    throw new DomainError('CONFLICT', 'plugins are allowed on root workspaces only; this workspace has a parent', { id: row.id, parentId: row.parentId });
  }
  return row.id;
}
