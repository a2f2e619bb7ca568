import { workspacesEvents } from '@agentplane/contracts';
import { resourceRef } from '@agentplane/domain';
import { writeOutboxEvent } from '@agentplane/messaging';
import type { WorkspacesTx } from './workspaces.repository.js';

/**
 * Registers a workspace with authz-proxy through the outbox, in the caller's transaction: the tuples follow the
 * committed change exactly once in effect, and never a change that rolled back.
 */
export async function registerWorkspace(tx: WorkspacesTx, w: { id: string; orgId: string; parentId: string | null; owner?: string }): Promise<void> {
  await writeOutboxEvent(tx.sql, workspacesEvents.resourceRegistered, {
    resource: resourceRef('workspace', w.id),
    tenant: w.orgId,
    ...(w.owner ? { owner: w.owner } : {}),
    ...(w.parentId ? { parent: resourceRef('workspace', w.parentId) } : {}),
  });
}

export async function deregisterWorkspace(tx: WorkspacesTx, id: string): Promise<void> {
  await writeOutboxEvent(tx.sql, workspacesEvents.resourceDeregistered, { resource: resourceRef('workspace', id) });
}

/** Old roots moved under the platform agent: authz moves their parent tuple, so grants on the agent reach them. */
export async function reparentWorkspaces(tx: WorkspacesTx, ids: string[], parentId: string): Promise<void> {
  for (const id of ids) {
    await writeOutboxEvent(tx.sql, workspacesEvents.resourceReparented, {
      resource: resourceRef('workspace', id),
      parent: resourceRef('workspace', parentId),
    });
  }
}
