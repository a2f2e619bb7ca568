import { hash } from 'node:crypto';
import { DomainError, hasControlChars, subjectOf, type Principal } from '@agentplane/domain';

/**
 * Joins tenant and principal in a scope key. A control character, so ids (which may not hold control characters)
 * can never contain it: `tenant="A\x1fB", principal="X"` cannot collide with `tenant="A", principal="B\x1fX"`.
 */
export const SCOPE_SEPARATOR = '\u001f';

function assertScopePart(field: 'tenant' | 'principal', value: string): void {
  if (value.length === 0) throw new DomainError('VALIDATION', `idempotency scope: ${field} is empty`);
  // hasControlChars covers the separator; the explicit check keeps that true if the separator ever changes.
  if (value.includes(SCOPE_SEPARATOR) || hasControlChars(value)) {
    throw new DomainError('VALIDATION', `idempotency scope: ${field} contains a control character`, {
      issues: [{ path: field, message: 'must not contain control characters' }],
    });
  }
}

/** The scope of a key: `<tenant>\x1f<principal>`; VALIDATION when either part is empty or holds a control character. */
export function scopeKey(tenantId: string, principal: string): string {
  assertScopePart('tenant', tenantId);
  assertScopePart('principal', principal);
  return `${tenantId}${SCOPE_SEPARATOR}${principal}`;
}

/** The scope of a caller: its tenant and its subject (`user:<id>` / `service_account:<id>`). No principal → refused. */
export function scopeKeyOf(principal: Principal | undefined): string {
  if (!principal) throw new DomainError('UNAUTHENTICATED', 'an idempotency key needs an authenticated caller');
  return scopeKey(principal.tenantId, subjectOf(principal));
}

/** How logs name a scope: a truncated SHA-256, never the raw tenant or principal. */
export function scopeLabel(scope: string): string {
  return `sha256:${hash('sha256', scope).slice(0, 12)}`;
}

/**
 * The advisory lock of a key in transaction mode: the first 64 bits of SHA-256(scope, separator, key), signed. A key
 * holds no control character, so the input names one (scope, key) pair; two pairs share a lock with odds of 2^-64,
 * and then one of them gets a retryable IN_PROGRESS while the other's transaction is open.
 */
export function lockKeyOf(scope: string, key: string): bigint {
  return hash('sha256', `${scope}${SCOPE_SEPARATOR}${key}`, 'buffer').readBigInt64BE(0);
}

/** How logs name a key: its first characters only. */
export function keyLabel(key: string): string {
  return key.length <= 6 ? key : `${key.slice(0, 6)}…`;
}

/** Where every door checks a key: libs/domain, which the gateway shares. */
export { IDEMPOTENCY_KEY_PATTERN, assertIdempotencyKey } from '@agentplane/domain';
