import { assertSafeId, creatorOf, hasScope, subjectOf, type Principal } from './principal.js';

const user: Principal = { kind: 'user', tenantId: 't1', userId: 'u1', roles: [], scopes: ['hooks:write'], issuer: 'agentplane' };
const sa: Principal = { kind: 'service_account', tenantId: 't1', serviceAccountId: 's1', roles: [], scopes: [], issuer: 'ci' };
const admin: Principal = { ...user, userId: 'a1', roles: ['admin'], scopes: [] };

describe('principal', () => {
  it('fills exactly one creator column per principal kind', () => {
    expect(creatorOf(user)).toEqual({ creatorUserId: 'u1', creatorServiceAccountId: null });
    expect(creatorOf(sa)).toEqual({ creatorUserId: null, creatorServiceAccountId: 's1' });
    expect(creatorOf({ kind: 'system', tenantId: 't1', roles: [], scopes: [], issuer: 'system' })).toEqual({
      creatorUserId: null,
      creatorServiceAccountId: null,
    });
  });

  it('passes a scope on the scope or the admin role only', () => {
    expect(hasScope(user, 'hooks:write')).toBe(true);
    expect(hasScope(user, 'conventions:write')).toBe(false);
    expect(hasScope(admin, 'conventions:write')).toBe(true);
  });

  it('names subjects by kind', () => {
    expect(subjectOf(user)).toBe('user:u1');
    expect(subjectOf(sa)).toBe('service_account:s1');
  });

  it('rejects ids with control characters', () => {
    expect(() => assertSafeId('tid', 'A\u001eB')).toThrow(/control character/);
    expect(() => assertSafeId('tid', '')).toThrow(/missing/);
    expect(assertSafeId('tid', 'acme')).toBe('acme');
  });
});
