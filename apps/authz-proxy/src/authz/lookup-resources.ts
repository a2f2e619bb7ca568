import { Inject, Injectable } from '@nestjs/common';
import { DomainError, type Principal } from '@agentplane/domain';
import { ResourceRef, resourceTypeOf, type Action } from '@agentplane/contracts';
import { AUTHZ_SETTINGS, type AuthzSettings } from '../config.js';
import { askerOf } from './check-access.js';
import { TuplesRepository } from './tuples.repository.js';

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

/**
 * `authz.v1.lookup`: the resources of a type the asker may act on, in resource order, keyset-paginated. One row more
 * than the page is read, so `nextCursor` is null exactly on the last page (never a silently truncated list).
 */
@Injectable()
export class LookupResources {
  constructor(
    private readonly tuples: TuplesRepository,
    @Inject(AUTHZ_SETTINGS) private readonly settings: AuthzSettings,
  ) {}

  async execute(principal: Principal, input: LookupInput): Promise<{ items: string[]; nextCursor: string | null }> {
    const asker = askerOf(principal, input.subject);
    const after = input.cursor === undefined ? '' : decodeCursor(input.cursor, input.type);
    const mode = (await this.tuples.modeOf(asker.tenantId)) ?? this.settings.defaultMode;
    // legacy and shadow answer as legacy did: every resource of the tenant.
    const everything = asker.tenantAdmin || mode !== 'enforce';
    const rows = everything
      ? await this.tuples.resourcesOfTenant(asker.tenantId, input.type, after, input.limit + 1)
      : await this.tuples.resourcesOfSubject({ ...input, tenantId: asker.tenantId, subject: asker.subject, after, limit: input.limit + 1, maxDepth: this.settings.maxDepth });
    const items = rows.slice(0, input.limit);
    const last = items.at(-1);
    const nextCursor = rows.length > input.limit && last !== undefined ? Buffer.from(last, 'utf8').toString('base64url') : null;
    return { items, nextCursor };
  }
}
