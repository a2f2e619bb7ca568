import { Injectable } from '@nestjs/common';
import type { Workspace } from '@agentplane/contracts';
import type { Principal } from '@agentplane/domain';
import { notFound, toWorkspace } from './workspace.js';
import { WorkspacesRepository } from './workspaces.repository.js';

/** Any member of the org reads its workspaces (a removed one shows `removed`); another org's do not exist. */
@Injectable()
export class GetWorkspace {
  constructor(private readonly repo: WorkspacesRepository) {}

  async execute(principal: Principal, input: { id: string }): Promise<Workspace> {
    const row = await this.repo.findInOrg(principal.tenantId, input.id);
    if (!row) throw notFound();
    return toWorkspace(row);
  }
}
