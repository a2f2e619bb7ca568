import { Injectable } from '@nestjs/common';
import type { AllowedPlugin } from '@agentplane/contracts';
import type { Principal } from '@agentplane/domain';
import { WorkspacesRepository } from '../workspaces/workspaces.repository.js';
import { toAllowedPlugin } from './enable-plugin.js';
import { assertPluginRoot } from './plugin-root.js';

/** The allowlist of a root workspace, by plugin name, with who enabled each and when (tenant admin). */
@Injectable()
export class ListPlugins {
  constructor(private readonly repo: WorkspacesRepository) {}

  async execute(principal: Principal, input: { id: string }): Promise<{ items: AllowedPlugin[] }> {
    const rootId = assertPluginRoot(principal, await this.repo.findInOrg(principal.tenantId, input.id));
    return { items: (await this.repo.listPlugins(rootId)).map(toAllowedPlugin) };
  }
}
