import { Injectable } from '@nestjs/common';
import { DEFAULT_PLATFORM_AGENT_NAME, type ReplyOf, type workspacesContract } from '@agentplane/contracts';
import { DomainError, subjectOf, type Principal } from '@agentplane/domain';
import { Idempotency } from '@agentplane/idempotency';
import { registerWorkspace, reparentWorkspaces } from '../workspaces/authz-registration.js';
import { platformAgentIdOf, requireAdmin } from '../workspaces/workspace.js';
import { WorkspacesRepository } from '../workspaces/workspaces.repository.js';

type InstallReply = ReplyOf<typeof workspacesContract.installPlatformAgent>;

/**
 * Installs the org's platform agent as the single root of its tree, in one transaction:
 *  1. the org's advisory lock: installs and new top-level workspaces of one org take turns;
 *  2. the org's live roots, FOR UPDATE (nothing moves them or adds under them until commit);
 *  3. refuse a name that another root already has (CONFLICT, nothing changed — never a rename);
 *  4. demote any other platform root, upsert the platform agent (deterministic id per org; a new or revived row is
 *     `offline` with its removal cleared, a live one keeps its status), re-parent every other root under it;
 *  5. move their allowlists as a deduplicated union (earliest enablement kept), delete the old rows;
 *  6. register a new (or revived) platform agent with authz through the outbox. Re-parented roots keep their
 *     authz registration as it was: authz-proxy refuses to change a registered resource's parent (CONFLICT).
 * A re-run finds only the platform root: nothing changes, `created` is false and `reparented` is 0.
 */
@Injectable()
export class InstallPlatformAgent {
  constructor(
    private readonly repo: WorkspacesRepository,
    private readonly idempotency: Idempotency,
  ) {}

  async execute(principal: Principal, input: { name?: string }): Promise<InstallReply> {
    requireAdmin(principal, 'installing the platform agent');
    const orgId = principal.tenantId;
    const platformAgentId = platformAgentIdOf(orgId);
    return this.repo.transaction(async (tx) => {
      await tx.lockOrg(orgId);
      const roots = await tx.lockRoots(orgId);
      const current = roots.find((r) => r.id === platformAgentId);
      const others = roots.filter((r) => r.id !== platformAgentId);
      const name = input.name ?? current?.name ?? DEFAULT_PLATFORM_AGENT_NAME;

      const clash = others.find((r) => r.name === name);
      if (clash) {
        throw new DomainError('CONFLICT', `a root workspace named "${name}" already exists (${clash.id}); install the platform agent under another name`, {
          field: 'name',
          name,
          conflictingWorkspaceId: clash.id,
        });
      }
      if (current && others.length > 0) {
        const taken = await tx.childrenNamed(platformAgentId, others.map((r) => r.name));
        if (taken.length > 0) {
          throw new DomainError('CONFLICT', `the platform agent already has workspaces named ${taken.map((n) => `"${n}"`).join(', ')}; rename the root workspaces of the same names first`, {
            names: taken,
            conflictingWorkspaceIds: others.filter((r) => taken.includes(r.name)).map((r) => r.id),
          });
        }
      }

      const otherPlatforms = others.filter((r) => r.kind === 'platform').map((r) => r.id);
      if (otherPlatforms.length > 0) await tx.demote(otherPlatforms);
      if (!current || current.name !== name) await tx.upsertPlatformAgent({ id: platformAgentId, orgId, name });
      if (!current) await registerWorkspace(tx, { id: platformAgentId, orgId, parentId: null });

      const moved = others.map((r) => r.id);
      let reparented = 0;
      let allowlistMoved = 0;
      if (moved.length > 0) {
        reparented = await tx.reparent(moved, platformAgentId);
        await reparentWorkspaces(tx, moved, platformAgentId);
        allowlistMoved = await tx.moveAllowlist(orgId, moved, platformAgentId, subjectOf(principal));
      }
      const reply = { status: 'installed', platformAgentId, kind: 'platform', name, created: !current, reparented, allowlistMoved } as const;
      await this.idempotency.completeWithin(tx.sql, reply);
      return reply;
    });
  }
}
