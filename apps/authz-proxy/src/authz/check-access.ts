import { Inject, Injectable, Logger } from '@nestjs/common';
import { Counter } from 'prom-client';
import { DomainError, isAdmin, subjectOf, type Principal } from '@agentplane/domain';
import { resourceTypeOf, type Action, type RolloutMode } from '@agentplane/contracts';
import { MetricsRegistry } from '@agentplane/observability';
import { AUTHZ_SETTINGS, decisionEpoch, type AuthzSettings } from '../config.js';
import { fineGrained, legacy, type Asker, type CheckFacts, type Decision } from './decision.js';
import { ResourceFactsClient } from './resource-facts.client.js';
import { TuplesRepository, type Registration } from './tuples.repository.js';

/** The asker of a check or lookup: the caller, or another subject of its tenant (the tenant `admin` role only). */
export function askerOf(principal: Principal, subject: string | undefined): Asker {
  const self = subjectOf(principal);
  if (subject === undefined || subject === self) return { tenantId: principal.tenantId, subject: self, tenantAdmin: isAdmin(principal) };
  if (!isAdmin(principal)) throw new DomainError('FORBIDDEN', 'asking about another subject needs the tenant admin role');
  return { tenantId: principal.tenantId, subject, tenantAdmin: false };
}

/**
 * An allowed decision read from the tuples alone carries the revision it was read at: the asking service may keep it
 * until it hears of a later revision (DESIGN §3, the decision cache). A denial is never cached (a registration that
 * lands adds access without a new revision), nor is an answer that used an owning service's row.
 */
function cacheable(d: Decision, facts: CheckFacts, epoch: string): Decision {
  return d.allowed && facts.revision !== null ? { ...d, revision: `${facts.revision}.${epoch}` } : d;
}

/** `authz.v1.check`: the decision of the asker's tenant's rollout mode, in one database round trip. */
@Injectable()
export class CheckAccess {
  private readonly logger = new Logger('authz');
  private readonly mismatches: Counter<'action' | 'type'>;
  private readonly epoch: string;

  constructor(
    private readonly tuples: TuplesRepository,
    private readonly resourceFacts: ResourceFactsClient,
    @Inject(AUTHZ_SETTINGS) private readonly settings: AuthzSettings,
    registry: MetricsRegistry,
  ) {
    this.epoch = decisionEpoch(settings);
    this.mismatches = new Counter({
      name: 'authz_shadow_mismatch_total',
      help: 'Checks in shadow mode whose fine-grained decision differs from the legacy one returned',
      labelNames: ['action', 'type'],
      registers: [registry],
    });
  }

  /** `token`: the caller's own, forwarded if the owning service must be asked (default: the request being served). */
  async execute(principal: Principal, input: { subject?: string; action: Action; resource: string }, token?: string): Promise<Decision> {
    const asker = askerOf(principal, input.subject);
    const facts = await this.factsOf(asker, input.action, input.resource, token);
    const mode: RolloutMode = facts.mode ?? this.settings.defaultMode;
    if (mode === 'enforce') return cacheable(fineGrained(asker, input.action, facts), facts, this.epoch);
    const old = legacy(asker, facts);
    // Legacy answers may be cached too; shadow's may not: each check must reach the mismatch count.
    if (mode === 'legacy') return cacheable(old, facts, this.epoch);
    if (mode === 'shadow') {
      const fine = fineGrained(asker, input.action, facts);
      if (fine.allowed !== old.allowed) {
        const type = resourceTypeOf(input.resource);
        this.mismatches.inc({ action: input.action, type });
        // Per tenant too, for tenant_status; off the check's path (a lost increment only under-reports).
        this.tuples.countShadowMismatch(asker.tenantId).catch((err: unknown) => this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'counting a shadow mismatch failed'));
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
    const facts = (a: Action) => this.factsOf(asker, a, resource);
    if (fineGrained(asker, action, await facts(action)).allowed) return;
    const readable = action !== 'read' && fineGrained(asker, 'read', await facts('read')).allowed;
    if (readable) throw new DomainError('FORBIDDEN', `${action} on this ${resourceTypeOf(resource)} is not allowed`);
    throw new DomainError('NOT_FOUND', `${resourceTypeOf(resource)} not found`);
  }

  /**
   * The facts of a decision: the tuples, and for a resource without a registration yet (or an unregistered ancestor
   * on its way up) its owning service's committed row in their place, read exactly as its registration would be
   * (DESIGN §3: a fresh resource answers like an old one). The row's facts are never stored. `pending`: the
   * resource's registration as its owner already stated it (a lookup's), used instead of asking again.
   */
  async factsOf(asker: Asker, action: Action, resource: string, token?: string, depthLeft = this.settings.maxDepth, pending?: Registration): Promise<CheckFacts> {
    const local = await this.tuples.checkFacts({ resource, subject: asker.subject, action, tenantId: asker.tenantId, maxDepth: depthLeft });
    if (local.resourceTenant !== null) return local;
    const row = pending ?? (await this.resourceFacts.of(resource, token));
    if (row === null || row.tenant !== asker.tenantId) return local;
    // An unregistered resource has no parent tuple: the tuples saw only grants on itself (depth 0). Above it, its
    // parent from the row, registered or not, one hop further up.
    let grantDepth = local.grantDepth;
    if (grantDepth === null && row.parent !== undefined && depthLeft > 0) {
      const up = await this.factsOf(asker, action, row.parent, token, depthLeft - 1);
      if (up.resourceTenant === asker.tenantId && up.grantDepth !== null) grantDepth = up.grantDepth + 1;
    }
    return { resourceTenant: row.tenant, mode: local.mode, owner: row.owner === asker.subject, grantDepth, revision: null };
  }
}
