import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Authenticated, CurrentPrincipal } from '@agentplane/auth';
import { pendingRegistrationsContract, resourceCountsContract, resourceFactsContract, resourceTypeOf, type ReplyOf, type RequestOf } from '@agentplane/contracts';
import { resourceRef, type Principal } from '@agentplane/domain';
import { zodPipe } from '@agentplane/messaging';
import { TasksRepository } from './tasks/tasks.repository.js';
import { creatorSubject } from './tasks/task.js';

const c = resourceFactsContract.tasks;
type Facts = ReplyOf<typeof c>;

/**
 * The internal subjects authz-proxy asks tasks (only authz-proxy may publish them: docker/nats/permissions.json).
 * `tasks.internal.v1.resource_facts`: the committed row of an agent or task as its registration states it (tenant,
 * owner, parent), for authz-proxy while that registration is still on its way (DESIGN §3, read-after-write). Only
 * authz-proxy may publish this subject (docker/nats/permissions.json); the forwarded caller's token confines the
 * answer to that caller's tenant.
 */
@Controller()
export class ResourceFactsRpc {
  constructor(private readonly tasks: TasksRepository) {}

  @Authenticated()
  @MessagePattern(c.subject)
  async facts(@Payload(zodPipe(c.request)) body: RequestOf<typeof c>, @CurrentPrincipal() principal: Principal): Promise<Facts> {
    const id = body.resource.slice(body.resource.indexOf(':') + 1);
    const tenant = principal.tenantId;
    switch (resourceTypeOf(body.resource)) {
      case 'agent': {
        const agent = await this.tasks.agentInTenant(tenant, id);
        return { facts: agent ? { tenant, ...(agent.createdBy ? { owner: agent.createdBy } : {}) } : null };
      }
      case 'task': {
        const task = await this.tasks.findById(tenant, id);
        const owner = task ? creatorSubject(task) : undefined;
        return { facts: task ? { tenant, parent: resourceRef('agent', task.agentId), ...(owner ? { owner } : {}) } : null };
      }
      default:
        return { facts: null };
    }
  }

  /** `tasks.internal.v1.resource_counts`: the caller's tenant's agents and tasks (authz tenant status). */
  @Authenticated()
  @MessagePattern(resourceCountsContract.tasks.subject)
  async counts(@Payload(zodPipe(resourceCountsContract.tasks.request)) _body: RequestOf<typeof resourceCountsContract.tasks>, @CurrentPrincipal() principal: Principal): Promise<ReplyOf<typeof resourceCountsContract.tasks>> {
    return { counts: await this.tasks.countsInTenant(principal.tenantId) };
  }

  /**
   * `tasks.internal.v1.pending_registrations`: the tenant's registrations authz-proxy may not have applied yet, for its
   * lookup (DESIGN §3: a fresh resource is listed as it will be once registered).
   */
  @Authenticated()
  @MessagePattern(pendingRegistrationsContract.tasks.subject)
  pending(@Payload(zodPipe(pendingRegistrationsContract.tasks.request)) body: RequestOf<typeof pendingRegistrationsContract.tasks>, @CurrentPrincipal() principal: Principal): Promise<ReplyOf<typeof pendingRegistrationsContract.tasks>> {
    return this.tasks.pendingRegistrations(principal.tenantId, body);
  }
}
