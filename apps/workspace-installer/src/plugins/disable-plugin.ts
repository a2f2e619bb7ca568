import { Injectable } from '@nestjs/common';
import { subjectOf, type Principal } from '@agentplane/domain';
import { Idempotency } from '@agentplane/idempotency';
import { WorkspacesRepository } from '../workspaces/workspaces.repository.js';
import { assertPluginRoot } from './plugin-root.js';

/** Disallows a plugin on a root workspace (tenant admin); disallowing one that is not allowed is a no-op. */
@Injectable()
export class DisablePlugin {
  constructor(
    private readonly repo: WorkspacesRepository,
    private readonly idempotency: Idempotency,
  ) {}

  async execute(principal: Principal, input: { id: string; plugin: string }): Promise<null> {
    await this.repo.transaction(async (tx) => {
      const rootId = assertPluginRoot(principal, await tx.lockOne(principal.tenantId, input.id, 'share'));
      await tx.disablePlugin(principal.tenantId, rootId, input.plugin, subjectOf(principal));
      await this.idempotency.completeWithin(tx.sql, null);
    });
    return null;
  }
}
