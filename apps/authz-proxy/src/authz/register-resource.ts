import { Inject, Injectable } from '@nestjs/common';
import { DomainError, isAdmin, subjectOf, type Principal } from '@agentplane/domain';
import { Idempotency } from '@agentplane/idempotency';
import { AUTHZ_SETTINGS, type AuthzSettings } from '../config.js';
import { CheckAccess } from './check-access.js';
import { TuplesRepository, type Registration, type Tx } from './tuples.repository.js';

/** `authz.v1.register`: the tenant, owner and parent tuples of a resource, in one transaction; idempotent. */
@Injectable()
export class RegisterResource {
  constructor(
    private readonly tuples: TuplesRepository,
    private readonly access: CheckAccess,
    private readonly idempotency: Idempotency,
    @Inject(AUTHZ_SETTINGS) private readonly settings: AuthzSettings,
  ) {}

  /**
   * A caller registers only in its own tenant. Service accounts and tenant admins may name any owner; a user may
   * register only what it owns itself, under a parent it may `write`. A resource recorded as deregistered (by a call
   * or an event, within AUTHZ_APPLIED_EVENTS_RETENTION_HOURS) is not registered again: ids are not reused, so the call
   * is a late copy of the registration its deregistration followed; it answers as done and writes nothing, as the
   * stale event does. Only a registration event written after the deregistration (reconcile --fix) takes it back.
   */
  async execute(principal: Principal, input: Registration): Promise<{ resource: string }> {
    if (input.tenant !== principal.tenantId) throw new DomainError('FORBIDDEN', 'a resource can be registered only in the caller\'s tenant');
    if (principal.kind !== 'service_account' && !isAdmin(principal)) {
      if (input.owner !== undefined && input.owner !== subjectOf(principal)) {
        throw new DomainError('FORBIDDEN', 'only a service account or a tenant admin may register a resource for another owner');
      }
      if (input.parent !== undefined) await this.access.require(principal, 'write', input.parent);
    }
    const reply = { resource: input.resource };
    await this.tuples.transaction(async (tx) => {
      await this.apply(tx, input);
      await this.idempotency.completeWithin(tx, reply);
    });
    return reply;
  }

  /** The write itself, inside the caller's transaction (the event consumer writes through TuplesRepository). */
  async apply(tx: Tx, input: Registration): Promise<void> {
    await this.tuples.register(tx, input, this.settings.maxDepth);
  }
}
