import { DomainError } from './errors.js';

export type PrincipalKind = 'user' | 'service_account' | 'system';

/** Who is calling. Every request has one; `system` is the in-process principal of background work. */
export type Principal =
  | { kind: 'user'; tenantId: string; userId: string; roles: string[]; scopes: string[]; issuer: string }
  | { kind: 'service_account'; tenantId: string; serviceAccountId: string; roles: string[]; scopes: string[]; issuer: string }
  | { kind: 'system'; tenantId: string; roles: string[]; scopes: string[]; issuer: 'system' };

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Tenant and principal ids: non-empty, bounded, no control characters (they would forge scope keys and log lines). */
export function assertSafeId(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new DomainError('UNAUTHENTICATED', `${field} is missing`);
  }
  if (value.length > 200) throw new DomainError('UNAUTHENTICATED', `${field} is too long`);
  if (CONTROL.test(value)) throw new DomainError('UNAUTHENTICATED', `${field} contains a control character`);
  return value;
}

export function hasControlChars(value: string): boolean {
  return CONTROL.test(value);
}

/** The id of the principal alone (without its kind). */
export function principalId(p: Principal): string {
  switch (p.kind) {
    case 'user':
      return p.userId;
    case 'service_account':
      return p.serviceAccountId;
    case 'system':
      return 'system';
  }
}

/** The authz subject of a principal (`user:<id>` / `service_account:<id>`). */
export function subjectOf(p: Principal): string {
  return `${p.kind}:${principalId(p)}`;
}

export function isAdmin(p: Principal): boolean {
  return p.roles.includes('admin');
}

/** A scope passes on the scope itself or on the `admin` role (DESIGN §2). */
export function hasScope(p: Principal, scope: string): boolean {
  return isAdmin(p) || p.scopes.includes(scope);
}

/** Creator columns of an audited row (DESIGN §4): exactly the principal's own column, none for system. */
export function creatorOf(p: Principal): { creatorUserId: string | null; creatorServiceAccountId: string | null } {
  switch (p.kind) {
    case 'user':
      return { creatorUserId: p.userId, creatorServiceAccountId: null };
    case 'service_account':
      return { creatorUserId: null, creatorServiceAccountId: p.serviceAccountId };
    case 'system':
      return { creatorUserId: null, creatorServiceAccountId: null };
  }
}

export function systemPrincipal(tenantId: string): Principal {
  return { kind: 'system', tenantId, roles: [], scopes: [], issuer: 'system' };
}
