import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Authenticated, CurrentPrincipal } from '@agentplane/auth';
import { pendingRegistrationsContract, resourceCountsContract, resourceFactsContract, resourceTypeOf, type ReplyOf, type RequestOf } from '@agentplane/contracts';
import type { Principal } from '@agentplane/domain';
import { zodPipe } from '@agentplane/messaging';
import { HooksRepository } from './hooks.repository.js';

const c = resourceFactsContract.hooks;
const TYPES = ['hook', 'release', 'run'] as const;
/** Registrations name an owner only for users and service accounts (the system principal registers none). */
const OWNER = /^(user|service_account):/;

/**
 * The internal subjects authz-proxy asks hook-registry (only authz-proxy may publish them).
 * `hooks.internal.v1.resource_facts`: a hook, release or run as its registration states it (tenant, owner, parent),
 * for authz-proxy while that registration is still on its way (DESIGN §3, read-after-write). Only authz-proxy may
 * publish this subject (docker/nats/permissions.json); the forwarded caller's token confines it to that tenant.
 */
@Controller()
export class ResourceFactsRpc {
  constructor(private readonly repo: HooksRepository) {}

  @Authenticated()
  @MessagePattern(c.subject)
  async facts(@Payload(zodPipe(c.request)) body: RequestOf<typeof c>, @CurrentPrincipal() principal: Principal): Promise<ReplyOf<typeof c>> {
    const type = TYPES.find((t) => t === resourceTypeOf(body.resource));
    if (!type) return { facts: null };
    const row = await this.repo.registrationFacts(principal.tenantId, type, body.resource.slice(type.length + 1));
    if (!row) return { facts: null };
    return { facts: { tenant: principal.tenantId, ...(OWNER.test(row.by) ? { owner: row.by } : {}), ...(row.parent ? { parent: row.parent } : {}) } };
  }

  /** `hooks.internal.v1.resource_counts`: the caller's tenant's hooks, releases and runs (authz tenant status). */
  @Authenticated()
  @MessagePattern(resourceCountsContract.hooks.subject)
  async counts(@Payload(zodPipe(resourceCountsContract.hooks.request)) _body: RequestOf<typeof resourceCountsContract.hooks>, @CurrentPrincipal() principal: Principal): Promise<ReplyOf<typeof resourceCountsContract.hooks>> {
    return { counts: await this.repo.countsInTenant(principal.tenantId) };
  }

  /**
   * `hooks.internal.v1.pending_registrations`: the tenant's registrations authz-proxy may not have applied yet, for its
   * lookup (DESIGN §3: a fresh resource is listed as it will be once registered).
   */
  @Authenticated()
  @MessagePattern(pendingRegistrationsContract.hooks.subject)
  pending(@Payload(zodPipe(pendingRegistrationsContract.hooks.request)) body: RequestOf<typeof pendingRegistrationsContract.hooks>, @CurrentPrincipal() principal: Principal): Promise<ReplyOf<typeof pendingRegistrationsContract.hooks>> {
    return this.repo.pendingRegistrations(principal.tenantId, body);
  }
}
