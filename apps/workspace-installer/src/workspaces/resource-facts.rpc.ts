import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Authenticated, CurrentPrincipal } from '@agentplane/auth';
import { pendingRegistrationsContract, resourceCountsContract, resourceFactsContract, resourceTypeOf, type ReplyOf, type RequestOf } from '@agentplane/contracts';
import { resourceRef, type Principal } from '@agentplane/domain';
import { zodPipe } from '@agentplane/messaging';
import { WorkspacesRepository } from './workspaces.repository.js';

const facts = resourceFactsContract.workspaces;
const counts = resourceCountsContract.workspaces;

/**
 * The internal subjects authz-proxy asks workspace-installer (only authz-proxy may publish them:
 * docker/nats/permissions.json). `workspaces.internal.v1.resource_facts`: a live workspace as its registration states
 * it (org, creator, current parent), while that registration is still on its way (DESIGN §3, read-after-write);
 * `resource_counts`: the org's live workspaces (tenant status). The forwarded caller's token confines both to its org.
 */
@Controller()
export class ResourceFactsRpc {
  constructor(private readonly repo: WorkspacesRepository) {}

  @Authenticated()
  @MessagePattern(facts.subject)
  async facts(@Payload(zodPipe(facts.request)) body: RequestOf<typeof facts>, @CurrentPrincipal() principal: Principal): Promise<ReplyOf<typeof facts>> {
    if (resourceTypeOf(body.resource) !== 'workspace') return { facts: null };
    const row = await this.repo.registrationFacts(principal.tenantId, body.resource.slice('workspace:'.length));
    if (!row) return { facts: null };
    return {
      facts: {
        tenant: principal.tenantId,
        ...(row.createdBy ? { owner: row.createdBy } : {}),
        ...(row.parentId ? { parent: resourceRef('workspace', row.parentId) } : {}),
      },
    };
  }

  @Authenticated()
  @MessagePattern(counts.subject)
  async counts(@Payload(zodPipe(counts.request)) _body: RequestOf<typeof counts>, @CurrentPrincipal() principal: Principal): Promise<ReplyOf<typeof counts>> {
    return { counts: { workspace: await this.repo.countLiveInOrg(principal.tenantId) } };
  }

  /**
   * `workspaces.internal.v1.pending_registrations`: the tenant's registrations authz-proxy may not have applied yet,
   * for its lookup (DESIGN §3: a fresh resource is listed as it will be once registered).
   */
  @Authenticated()
  @MessagePattern(pendingRegistrationsContract.workspaces.subject)
  pending(@Payload(zodPipe(pendingRegistrationsContract.workspaces.request)) body: RequestOf<typeof pendingRegistrationsContract.workspaces>, @CurrentPrincipal() principal: Principal): Promise<ReplyOf<typeof pendingRegistrationsContract.workspaces>> {
    return this.repo.pendingRegistrations(principal.tenantId, body);
  }
}
