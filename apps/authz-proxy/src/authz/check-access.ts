import { Inject, Injectable, Logger } from '@nestjs/common';
import { Counter } from 'prom-client';
import { DomainError, isAdmin, subjectOf, type Principal } from '@agentplane/domain';
import { resourceTypeOf, type Action, type RolloutMode } from '@agentplane/contracts';
import { MetricsRegistry } from '@agentplane/observability';
import { AUTHZ_SETTINGS, type AuthzSettings } from '../config.js';
import { fineGrained, legacy, type Asker, type Decision } from './decision.js';
import { TuplesRepository } from './tuples.repository.js';

/** The asker of a check or lookup: the caller, or another subject of its tenant (the tenant `admin` role only). */
export function askerOf(principal: Principal, subject: string | undefined): Asker {
  const self = subjectOf(principal);
  if (subject === undefined || subject === self) return { tenantId: principal.tenantId, subject: self, tenantAdmin: isAdmin(principal) };
  if (!isAdmin(principal)) throw new DomainError('FORBIDDEN', 'asking about another subject needs the tenant admin role');
  return { tenantId: principal.tenantId, subject, tenantAdmin: false };
}

/** `authz.v1.check`: the decision of the asker's tenant's rollout mode, in one database round trip. */
@Injectable()
export class CheckAccess {
  private readonly logger = new Logger('authz');
  private readonly mismatches: Counter<'action' | 'type'>;

  constructor(
    private readonly tuples: TuplesRepository,
    @Inject(AUTHZ_SETTINGS) private readonly settings: AuthzSettings,
    registry: MetricsRegistry,
  ) {
    this.mismatches = new Counter({
      name: 'authz_shadow_mismatch_total',
      help: 'Checks in shadow mode whose fine-grained decision differs from the legacy one returned',
      labelNames: ['action', 'type'],
      registers: [registry],
    });
  }

  async execute(principal: Principal, input: { subject?: string; action: Action; resource: string }): Promise<Decision> {
    const asker = askerOf(principal, input.subject);
    const facts = await this.tuples.checkFacts({ ...input, subject: asker.subject, tenantId: asker.tenantId, maxDepth: this.settings.maxDepth });
    const mode: RolloutMode = facts.mode ?? this.settings.defaultMode;
    if (mode === 'enforce') return fineGrained(asker, input.action, facts);
    const old = legacy(asker, facts);
    if (mode === 'shadow') {
      const fine = fineGrained(asker, input.action, facts);
      if (fine.allowed !== old.allowed) {
        const type = resourceTypeOf(input.resource);
        this.mismatches.inc({ action: input.action, type });
        // No tenant, subject or resource id in the line: only what the metric says.
        this.logger.warn({ action: input.action, type, legacy: old.allowed, enforce: fine.allowed, enforceReason: fine.reason }, 'authz shadow mismatch');
      }
    }
    return old;
  }

  /**
   * For authz-proxy's own operations (grant, revoke, deregister, register under a parent): the fine-grained
   * decision whatever the rollout mode. Denied: NOT_FOUND if the caller cannot read the resource, else FORBIDDEN.
   */
  async require(principal: Principal, action: Action, resource: string): Promise<void> {
    const asker = askerOf(principal, undefined);
    const facts = (a: Action) => this.tuples.checkFacts({ resource, subject: asker.subject, action: a, tenantId: asker.tenantId, maxDepth: this.settings.maxDepth });
    if (fineGrained(asker, action, await facts(action)).allowed) return;
    const readable = action !== 'read' && fineGrained(asker, 'read', await facts('read')).allowed;
    if (readable) throw new DomainError('FORBIDDEN', `${action} on this ${resourceTypeOf(resource)} is not allowed`);
    throw new DomainError('NOT_FOUND', `${resourceTypeOf(resource)} not found`);
  }
}
