import { Inject, Injectable } from '@nestjs/common';
import type { Action, RolloutMode } from '@agentplane/contracts';
import type { Principal } from '@agentplane/domain';
import { AUTHZ_SETTINGS, type AuthzSettings } from '../config.js';
import { CheckAccess, askerOf } from './check-access.js';
import { fineGrained, legacy, type Asker, type Decision } from './decision.js';
import { ResourceFactsClient } from './resource-facts.client.js';
import { TuplesRepository } from './tuples.repository.js';

export interface Explanation extends Decision {
  path: string[];
}

/** What one resource on the way up says: its tenant, parent and owner (tuples, or its owner's facts while unregistered), and the asker's grants on it. */
interface Hop {
  resource: string;
  tenant: string | null;
  parent?: string;
  owner?: string;
  grants: string[];
}

const missing = (tuple: string) => `missing ${tuple}`;

/**
 * `authz.v1.explain`: the decision `check` gives (same access rule, same rollout mode; no shadow metric counted) and
 * the tuples behind it: the granting chain when allowed, what was looked for and not found when denied.
 */
@Injectable()
export class ExplainAccess {
  constructor(
    private readonly access: CheckAccess,
    private readonly tuples: TuplesRepository,
    private readonly resourceFacts: ResourceFactsClient,
    @Inject(AUTHZ_SETTINGS) private readonly settings: AuthzSettings,
  ) {}

  async execute(principal: Principal, input: { subject?: string; action: Action; resource: string }): Promise<Explanation> {
    const asker = askerOf(principal, input.subject);
    const facts = await this.access.factsOf(asker, input.action, input.resource);
    const mode: RolloutMode = facts.mode ?? this.settings.defaultMode;
    const decision = mode === 'enforce' ? fineGrained(asker, input.action, facts) : legacy(asker, facts);
    return { ...decision, path: await this.path(asker, input.action, input.resource, decision) };
  }

  private async path(asker: Asker, action: Action, resource: string, decision: Decision): Promise<string[]> {
    const tenantTuple = `${resource}#tenant@tenant:${asker.tenantId}`;
    const adminTuple = `tenant:${asker.tenantId}#admin@${asker.subject}`;
    if (decision.reason === 'not_found') return [missing(tenantTuple)];
    if (decision.reason === 'tenant_admin') return [tenantTuple, adminTuple];
    if (decision.reason === 'tenant_member') return [tenantTuple, `tenant:${asker.tenantId}#member@${asker.subject}`];
    if (decision.reason === 'owner') return [tenantTuple, `${resource}#owner@${asker.subject}`];
    const chain = await this.chain(asker, action, resource);
    const granted = chain.findIndex((h) => h.grants.length > 0);
    if (decision.allowed && granted >= 0) {
      const hop = chain[granted];
      const relation = hop.grants.includes(action) ? action : 'admin';
      return [tenantTuple, ...chain.slice(0, granted).map((h) => `${h.resource}#parent@${h.parent}`), `${hop.resource}#${relation}@${asker.subject}`];
    }
    // Denied (no_relation): the tenant matched; everything that could have granted it, missing.
    return [
      tenantTuple,
      missing(adminTuple),
      ...(action === 'admin' ? [] : [missing(`${resource}#owner@${asker.subject}`)]),
      ...chain.flatMap((h, i) => [
        ...(i > 0 ? [`${chain[i - 1].resource}#parent@${h.resource}`] : []),
        missing(`${h.resource}#${action}@${asker.subject}`),
        ...(action === 'admin' ? [] : [missing(`${h.resource}#admin@${asker.subject}`)]),
      ]),
    ];
  }

  /** The resource and its ancestors in the asker's tenant, up to the inheritance depth. */
  private async chain(asker: Asker, action: Action, resource: string): Promise<Hop[]> {
    const hops: Hop[] = [];
    let next: string | undefined = resource;
    for (let depth = 0; next !== undefined && depth <= this.settings.maxDepth; depth++) {
      const hop = await this.hop(asker, action, next);
      if (hop.tenant !== asker.tenantId) break;
      hops.push(hop);
      next = hop.parent;
    }
    return hops;
  }

  private async hop(asker: Asker, action: Action, resource: string): Promise<Hop> {
    const rows = await this.tuples.tuplesForExplain({ resource, subject: asker.subject, action, tenantId: asker.tenantId });
    const of = (rel: string) => rows.find((r) => r.relation === rel);
    const grants = rows.filter((r) => (r.relation === action || r.relation === 'admin') && r.subject === asker.subject).map((r) => r.relation);
    const tenant = of('tenant');
    if (tenant) return { resource, tenant: tenant.tenant_id, parent: of('parent')?.subject, owner: of('owner')?.subject, grants };
    const row = await this.resourceFacts.of(resource);
    return row ? { resource, tenant: row.tenant, parent: row.parent, owner: row.owner, grants } : { resource, tenant: null, grants };
  }
}
