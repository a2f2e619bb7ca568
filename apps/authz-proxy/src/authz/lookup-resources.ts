import { Inject, Injectable } from '@nestjs/common';
import { DomainError, type Principal } from '@agentplane/domain';
import { ResourceRef, resourceTypeOf, type Action } from '@agentplane/contracts';
import { AUTHZ_SETTINGS, type AuthzSettings } from '../config.js';
import { CheckAccess, askerOf } from './check-access.js';
import { fineGrained, type Asker } from './decision.js';
import { ResourceFactsClient } from './resource-facts.client.js';
import { TuplesRepository, type Registration } from './tuples.repository.js';

export interface LookupInput {
  subject?: string;
  action: Action;
  type: string;
  limit: number;
  cursor?: string;
}

function decodeCursor(cursor: string, type: string): string {
  const ref = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!ResourceRef.safeParse(ref).success || resourceTypeOf(ref) !== type) {
    throw new DomainError('VALIDATION', 'cursor is not one this lookup returned', { issues: [{ path: 'cursor', message: 'invalid cursor' }] });
  }
  return ref;
}

/** How many of the owner's pending registrations one lookup page considers (more: the page ends before them). */
export const PENDING_PER_LOOKUP = 1_000;

/**
 * `authz.v1.lookup`: the resources of a type the asker may act on, in resource order, keyset-paginated. One row more
 * than the page is read, so `nextCursor` is null exactly on the last page (never a silently truncated list).
 *
 * Listed from the tuples and, for a resource whose registration is still on its way (DESIGN §3: a fresh resource
 * answers like an old one), from the owning service's pending registrations, decided with their facts exactly as the
 * tuples will be (CheckAccess.factsOf). They are asked for first, and this store is read after, so a registration
 * landing meanwhile is in one of the two (or both: one item).
 */
@Injectable()
export class LookupResources {
  constructor(
    private readonly tuples: TuplesRepository,
    private readonly resourceFacts: ResourceFactsClient,
    private readonly access: CheckAccess,
    @Inject(AUTHZ_SETTINGS) private readonly settings: AuthzSettings,
  ) {}

  async execute(principal: Principal, input: LookupInput): Promise<{ items: string[]; nextCursor: string | null }> {
    const asker = askerOf(principal, input.subject);
    const after = input.cursor === undefined ? '' : decodeCursor(input.cursor, input.type);
    const [pending, tenantMode] = await Promise.all([this.resourceFacts.pending(input.type, after, PENDING_PER_LOOKUP), this.tuples.modeOf(asker.tenantId)]);
    const fresh = pending?.registrations.length ? await this.tuples.unregisteredOf(pending.registrations.map((r) => r.resource)) : new Set<string>();
    const mode = tenantMode ?? this.settings.defaultMode;
    // legacy and shadow answer as legacy did: every resource of the tenant.
    const everything = asker.tenantAdmin || mode !== 'enforce';
    const [registered, unregistered] = await Promise.all([
      everything
        ? this.tuples.resourcesOfTenant(asker.tenantId, input.type, after, input.limit + 1)
        : this.tuples.resourcesOfSubject({ ...input, tenantId: asker.tenantId, subject: asker.subject, after, limit: input.limit + 1, maxDepth: this.settings.maxDepth }),
      this.allowedOf((pending?.registrations ?? []).filter((r) => fresh.has(r.resource) && r.tenant === asker.tenantId), asker, input.action, everything),
    ]);
    // Past the last pending registration the owner listed, it may hold more: the page ends there, and the next one
    // starts after it (every resource up to it was considered here).
    const bound = pending?.truncated ? pending.registrations.at(-1)?.resource : undefined;
    const rows = [...new Set([...registered, ...unregistered])].sort().filter((r) => bound === undefined || r <= bound);
    const items = rows.slice(0, input.limit);
    const resumeAfter = rows.length > input.limit ? items.at(-1) : bound;
    return { items, nextCursor: resumeAfter === undefined ? null : Buffer.from(resumeAfter, 'utf8').toString('base64url') };
  }

  /** The unregistered resources the asker may act on, decided with their pending registrations' facts. */
  private async allowedOf(pending: Registration[], asker: Asker, action: Action, everything: boolean): Promise<string[]> {
    if (everything) return pending.map((r) => r.resource);
    const decided = await Promise.all(
      pending.map(async (r) => ({ resource: r.resource, allowed: fineGrained(asker, action, await this.access.factsOf(asker, action, r.resource, undefined, undefined, r)).allowed })),
    );
    return decided.filter((d) => d.allowed).map((d) => d.resource);
  }
}
