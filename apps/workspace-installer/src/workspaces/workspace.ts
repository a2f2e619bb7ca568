import { createHash } from 'node:crypto';
import type { Workspace } from '@agentplane/contracts';
import { DomainError, isAdmin, type Principal } from '@agentplane/domain';

export type WorkspaceKind = 'platform' | 'workspace';
export type WorkspaceStatus = 'offline' | 'online' | 'removed';

/** A workspace as read: `status` already computed against the heartbeat window (see WorkspacesRepository). */
export interface WorkspaceRow {
  id: string;
  orgId: string;
  parentId: string | null;
  name: string;
  kind: WorkspaceKind;
  status: WorkspaceStatus;
  lastHeartbeatAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  createdBy: string | null;
  removedBy: string | null;
  removedAt: Date | null;
}

export function toWorkspace(row: WorkspaceRow): Workspace {
  return {
    id: row.id,
    orgId: row.orgId,
    parentId: row.parentId,
    name: row.name,
    kind: row.kind,
    status: row.status,
    lastHeartbeatAt: row.lastHeartbeatAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    createdBy: row.createdBy,
    removedBy: row.removedBy,
    removedAt: row.removedAt?.toISOString() ?? null,
  };
}

/** Namespace of platform-agent ids (a fixed random UUID; changing it would orphan every installed agent). */
export const PLATFORM_AGENT_NAMESPACE = '6f1c3c52-8f0e-4c7b-9a51-2f7d0c6b9e44';

/** RFC 4122 version-5 UUID of `name` in `namespace` (SHA-1). */
export function uuidV5(name: string, namespace: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(ns).update(Buffer.from(name, 'utf8')).digest();
  const b = hash.subarray(0, 16);
  b[6] = (b[6] & 0x0f) | 0x50;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The org's platform agent has one id forever, so concurrent or repeated installs converge on one row. */
export function platformAgentIdOf(orgId: string): string {
  return uuidV5(`org:${orgId}`, PLATFORM_AGENT_NAMESPACE);
}

/** Removing, installing and managing plugins are for tenant admins; a readable workspace is FORBIDDEN otherwise. */
export function requireAdmin(principal: Principal, action: string): void {
  if (!isAdmin(principal)) throw new DomainError('FORBIDDEN', `${action} requires the admin role`, { role: 'admin' });
}

/**
 * Who may heartbeat a workspace: its own service account (a service-account token whose `sub` is the workspace id,
 * in the workspace's tenant) or a tenant admin.
 */
export function mayHeartbeat(principal: Principal, workspaceId: string): boolean {
  return isAdmin(principal) || (principal.kind === 'service_account' && principal.serviceAccountId === workspaceId);
}

export function notFound(): DomainError {
  return new DomainError('NOT_FOUND', 'workspace not found');
}

/** What acting on a removed workspace answers (it still reads, so not NOT_FOUND): CONFLICT, `status: "removed"`. */
export function removedConflict(message: string, details: Record<string, unknown>): DomainError {
  return new DomainError('CONFLICT', message, { ...details, status: 'removed' });
}
