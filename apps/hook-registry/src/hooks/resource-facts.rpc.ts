import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Authenticated, CurrentPrincipal } from '@agentplane/auth';
import { resourceFactsContract, resourceTypeOf, type ReplyOf, type RequestOf } from '@agentplane/contracts';
import type { Principal } from '@agentplane/domain';
import { zodPipe } from '@agentplane/messaging';
import { HooksRepository } from './hooks.repository.js';

const c = resourceFactsContract.hooks;
const TYPES = ['hook', 'release', 'run'] as const;
/** Registrations name an owner only for users and service accounts (the system principal registers none). */
const OWNER = /^(user|service_account):/;

/**
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
}
