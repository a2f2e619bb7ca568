import { Injectable } from '@nestjs/common';
import type { Workspace } from '@agentplane/contracts';
import { DomainError, type Principal } from '@agentplane/domain';
import { mayHeartbeat, notFound, removedConflict, toWorkspace } from './workspace.js';
import { WorkspacesRepository } from './workspaces.repository.js';

/**
 * A heartbeat marks a workspace online now. Callers: the workspace's own service account (token `sub` = the
 * workspace id, `sat: true`, same tenant) or a tenant admin; another member of the org gets FORBIDDEN.
 */
@Injectable()
export class Heartbeat {
  constructor(private readonly repo: WorkspacesRepository) {}

  async execute(principal: Principal, input: { id: string }): Promise<Workspace> {
    const orgId = principal.tenantId;
    const current = await this.repo.findInOrg(orgId, input.id);
    if (!current) throw notFound();
    if (!mayHeartbeat(principal, current.id)) {
      throw new DomainError('FORBIDDEN', "only the workspace's own service account or an admin may send its heartbeat");
    }
    const row = await this.repo.heartbeat(orgId, input.id);
    if (!row) throw removedConflict('workspace is removed', { id: current.id });
    return toWorkspace(row);
  }
}
