import { Injectable } from '@nestjs/common';
import type { AllowedPlugin } from '@agentplane/contracts';
import { subjectOf, type Principal } from '@agentplane/domain';
import { Idempotency } from '@agentplane/idempotency';
import { WorkspacesRepository, type AllowlistRow } from '../workspaces/workspaces.repository.js';
import { assertPluginRoot } from './plugin-root.js';

export function toAllowedPlugin(row: AllowlistRow): AllowedPlugin {
  return { workspaceId: row.workspaceId, plugin: row.plugin, enabledBy: row.enabledBy, enabledAt: row.enabledAt.toISOString() };
}

/** Allows a plugin on a root workspace (tenant admin); enabling it again keeps the first enablement's provenance. */
@Injectable()
export class EnablePlugin {
  constructor(
    private readonly repo: WorkspacesRepository,
    private readonly idempotency: Idempotency,
  ) {}

  async execute(principal: Principal, input: { id: string; plugin: string }): Promise<AllowedPlugin> {
    return this.repo.transaction(async (tx) => {
      // FOR SHARE: an install re-parenting this root waits for us (and moves our row), or we wait and see a child.
      const rootId = assertPluginRoot(principal, await tx.lockOne(principal.tenantId, input.id, 'share'));
      const allowed = toAllowedPlugin(await tx.enablePlugin(principal.tenantId, rootId, input.plugin, subjectOf(principal)));
      await this.idempotency.completeWithin(tx.sql, allowed);
      return allowed;
    });
  }
}
