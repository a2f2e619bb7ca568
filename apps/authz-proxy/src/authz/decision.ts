import type { Action, RolloutMode } from '@agentplane/contracts';

/** Who a check is about: the caller itself, or (for a tenant admin) another subject of the caller's tenant. */
export interface Asker {
  tenantId: string;
  subject: string;
  /** Only known for the caller itself (from its token's roles). */
  tenantAdmin: boolean;
}

/** Everything a decision needs, read in one round trip (TuplesRepository.checkFacts). */
export interface CheckFacts {
  /** Tenant of the resource; null when it is not registered. */
  resourceTenant: string | null;
  /** The asker's tenant's rollout mode; null when none is set. */
  mode: RolloutMode | null;
  owner: boolean;
  /** Hops from the resource to the nearest ancestor-or-self granting the action (or `admin`); null for none. */
  grantDepth: number | null;
  /**
   * The asker's tenant's revision the facts were read at (authz_revisions, in the same statement); null when any of them
   * came from an owning service's row instead of the tuples.
   */
  revision: string | null;
}

export interface Decision {
  allowed: boolean;
  reason: string;
  /**
   * Set on an allowed decision a service may cache until it hears of a later revision or another epoch:
   * `<revision>.<epoch>` (DESIGN §3, the decision cache).
   */
  revision?: string;
}

const NOT_FOUND: Decision = { allowed: false, reason: 'not_found' };

/**
 * The fine-grained decision (`enforce`). Never across tenants; an unregistered resource and another tenant's look
 * the same (`not_found`). Owners may do everything but `admin`; a grant of `admin` covers every action.
 */
export function fineGrained(asker: Asker, action: Action, facts: CheckFacts): Decision {
  if (facts.resourceTenant === null || facts.resourceTenant !== asker.tenantId) return NOT_FOUND;
  if (asker.tenantAdmin) return { allowed: true, reason: 'tenant_admin' };
  if (facts.owner && action !== 'admin') return { allowed: true, reason: 'owner' };
  if (facts.grantDepth !== null) return { allowed: true, reason: facts.grantDepth === 0 ? 'grant' : 'inherited_grant' };
  return { allowed: false, reason: 'no_relation' };
}

/** The decision before fine-grained authz (`legacy`): any member of the resource's tenant. */
export function legacy(asker: Asker, facts: CheckFacts): Decision {
  if (facts.resourceTenant === null || facts.resourceTenant !== asker.tenantId) return NOT_FOUND;
  return { allowed: true, reason: 'tenant_member' };
}
