import { Inject, Injectable } from '@nestjs/common';
import { DomainError, parseBigintId, type Principal } from '@agentplane/domain';
import { ACTIONS, SubjectRef, type Action } from '@agentplane/contracts';
import { keptSince } from '@agentplane/persistence';
import { AUTHZ_SETTINGS, type AuthzSettings } from '../config.js';
import { CheckAccess } from './check-access.js';
import { TuplesRepository } from './tuples.repository.js';

interface PageInput {
  resource: string;
  limit: number;
  cursor?: string;
}

const invalidCursor = () => new DomainError('VALIDATION', 'cursor is not one this list returned', { issues: [{ path: 'cursor', message: 'invalid cursor' }] });

/** The cursor of a grants page: the last (action, subject) it held, each as the contract has them (a NUL in the
 * subject would reach PostgreSQL, which refuses it: an INTERNAL where a VALIDATION is due). */
function decodeGrantsCursor(cursor: string): { action: string; subject: string } {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && (ACTIONS as readonly unknown[]).includes(v[0]) && SubjectRef.safeParse(v[1]).success) return { action: v[0] as Action, subject: v[1] };
  } catch {
    // not JSON: refused below
  }
  throw invalidCursor();
}

/** The cursor of a history page: the id of the last change it held. */
function decodeHistoryCursor(cursor: string): string {
  const id = parseBigintId(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (id === null) throw invalidCursor();
  return id;
}

const encode = (v: string) => Buffer.from(v, 'utf8').toString('base64url');

/**
 * The audit of access to one resource (`admin` on it, as granting needs): `authz.v1.list_grants`, who holds which action
 * by a direct grant and who granted it when; `authz.v1.grant_history`, every grant that took effect and revocation that
 * removed one, newest first (since `keptSince`, where AUTHZ_GRANT_HISTORY_RETENTION_HOURS forgets older ones). Both in
 * keyset pages of the caller's tenant only; one row more than the page is read, so `nextCursor` is null exactly on the
 * last page.
 */
@Injectable()
export class GrantAudit {
  constructor(
    private readonly tuples: TuplesRepository,
    private readonly access: CheckAccess,
    @Inject(AUTHZ_SETTINGS) private readonly settings: AuthzSettings,
  ) {}

  async grants(principal: Principal, input: PageInput) {
    const after = input.cursor === undefined ? null : decodeGrantsCursor(input.cursor);
    await this.access.require(principal, 'admin', input.resource);
    const rows = await this.tuples.grantsOf({ tenantId: principal.tenantId, resource: input.resource, after, limit: input.limit + 1 });
    const items = rows.slice(0, input.limit).map((r) => ({ subject: r.subject, action: r.action, grantedBy: r.granted_by, grantedAt: r.created_at.toISOString() }));
    const last = items.at(-1);
    return { items, nextCursor: rows.length > input.limit && last ? encode(JSON.stringify([last.action, last.subject])) : null };
  }

  async history(principal: Principal, input: PageInput) {
    const before = input.cursor === undefined ? null : decodeHistoryCursor(input.cursor);
    await this.access.require(principal, 'admin', input.resource);
    const rows = await this.tuples.grantHistory({ tenantId: principal.tenantId, resource: input.resource, before, limit: input.limit + 1 });
    const page = rows.slice(0, input.limit);
    const items = page.map((r) => ({ change: r.change, subject: r.subject, action: r.action, by: r.changed_by, at: r.changed_at.toISOString() }));
    const last = page.at(-1);
    return { items, nextCursor: rows.length > input.limit && last ? encode(last.id) : null, keptSince: keptSince(this.settings.grantHistoryRetentionHours) };
  }
}
