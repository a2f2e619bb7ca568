import { createHash } from 'node:crypto';
import canonicalizeCjs from 'canonicalize';
import { isDomainError, type Principal } from '@agentplane/domain';
import { assertIdempotencyKey, keyLabel, lockKeyOf, scopeKey, scopeKeyOf, scopeLabel, SCOPE_SEPARATOR } from './scope.js';
import { payloadHash } from './hash.js';
import { assertTableName, idempotencyTableSql } from './table.js';
import { idempotencyConfig, idempotencyEnvSchema, toIdempotencyConfig } from './config.js';

const canonicalize = canonicalizeCjs as unknown as (input: unknown) => string | undefined;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isDomainError(err) ? err.code : 'not a DomainError';
  }
  return undefined;
}

const alice: Principal = { kind: 'user', tenantId: 'acme', userId: 'alice', roles: [], scopes: [], issuer: 'agentplane' };

describe('scope key', () => {
  it('keeps tenant and principal apart so no pair of ids can forge another pair', () => {
    // The collision the separator rule exists for: A␟B + X against A + B␟X.
    expect(codeOf(() => scopeKey(`A${SCOPE_SEPARATOR}B`, 'X'))).toBe('VALIDATION');
    expect(codeOf(() => scopeKey('A', `B${SCOPE_SEPARATOR}X`))).toBe('VALIDATION');
    expect(scopeKey('A', 'BX')).not.toBe(scopeKey('AB', 'X'));
  });

  it('rejects any control character (and empty parts) in tenant or principal with VALIDATION', () => {
    for (const bad of ['a\u0000b', 'a\nb', 'a\u001eb', 'a\u007fb', '\t']) {
      expect(codeOf(() => scopeKey(bad, 'user:u1'))).toBe('VALIDATION');
      expect(codeOf(() => scopeKey('acme', bad))).toBe('VALIDATION');
    }
    expect(codeOf(() => scopeKey('', 'user:u1'))).toBe('VALIDATION');
  });

  it('scopes a principal by tenant and kind, and fails closed without one', () => {
    expect(scopeKeyOf(alice)).toBe(`acme${SCOPE_SEPARATOR}user:alice`);
    const sa: Principal = { kind: 'service_account', tenantId: 'acme', serviceAccountId: 'alice', roles: [], scopes: [], issuer: 'ci' };
    expect(scopeKeyOf(sa)).not.toBe(scopeKeyOf(alice));
    expect(codeOf(() => scopeKeyOf(undefined))).toBe('UNAUTHENTICATED');
  });

  it('names a scope in logs by a 12-hex SHA-256 prefix and a key by a short prefix', () => {
    const label = scopeLabel(scopeKeyOf(alice));
    expect(label).toMatch(/^sha256:[0-9a-f]{12}$/);
    expect(label).not.toContain('acme');
    expect(keyLabel('0123456789abcdef')).toBe('012345…');
    expect(keyLabel('abc')).toBe('abc');
  });
});

describe('idempotency key', () => {
  it('accepts 1-255 printable ASCII characters, else VALIDATION', () => {
    expect(assertIdempotencyKey('a')).toBe('a');
    expect(assertIdempotencyKey('k'.repeat(255))).toHaveLength(255);
    for (const bad of ['', 'k'.repeat(256), 'with space', 'tab\t', 'é', 'line\n', 42]) {
      expect(codeOf(() => assertIdempotencyKey(bad))).toBe('VALIDATION');
    }
  });
});

describe('lock key', () => {
  it('is the first 8 bytes (signed, big-endian) of sha256(scope US key): the lock every instance and version takes for a key', () => {
    const scope = scopeKey('t1', 'user:alice');
    const expected = createHash('sha256').update(`${scope}${SCOPE_SEPARATOR}k-1`).digest().readBigInt64BE(0);
    expect(lockKeyOf(scope, 'k-1')).toBe(expected);
    expect(lockKeyOf(scope, 'k-1')).toBe(276976043452815262n);
    expect(lockKeyOf(scope, 'k-2')).not.toBe(expected);
    expect(scopeLabel(scope)).toBe(`sha256:${createHash('sha256').update(scope).digest('hex').slice(0, 12)}`);
  });
});

describe('payload hash', () => {
  it('hashes canonical JSON: key order does not matter, values and the subject do', () => {
    const a = payloadHash('tasks.v1.create', { name: 'x', params: { b: 1, a: [1, 2] } });
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(payloadHash('tasks.v1.create', { params: { a: [1, 2], b: 1 }, name: 'x' })).toBe(a);
    expect(payloadHash('tasks.v1.create', { name: 'x', params: { b: 1, a: [2, 1] } })).not.toBe(a);
    expect(payloadHash('tasks.v1.create_agent', { name: 'x', params: { b: 1, a: [1, 2] } })).not.toBe(a);
    expect(payloadHash('s', { n: 1 })).toBe(payloadHash('s', { n: 1.0 }));
  });

  it('hashes exactly the RFC 8785 form of {subject, payload}, so stored hashes keep matching', () => {
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');
    for (const [subject, payload] of [
      ['tasks.v1.create', { name: 'x', params: { b: 1, a: [1, 2] } }],
      ['s "quoted" \\ é', 'a string payload with "quotes", \u2028 and ü'],
      ['s', [1, 2.5, null, true, { z: {}, a: [] }]],
      ['s', null],
    ] as const) {
      expect(payloadHash(subject, payload)).toBe(sha(canonicalize({ subject, payload })!));
    }
  });

  it('is undefined for something that is not JSON', () => {
    expect(payloadHash('s', Symbol('not json'))).toBeUndefined();
    expect(payloadHash('s', { n: Number.NaN })).toBeUndefined();
  });
});

describe('table and config', () => {
  it('accepts only a strict identifier as the table name', () => {
    expect(assertTableName('idempotency_keys')).toBe('idempotency_keys');
    for (const bad of ['', 'Keys', 'keys; DROP TABLE agents', 'a-b', '"x"', '1keys', 'k'.repeat(41)]) {
      expect(() => assertTableName(bad)).toThrow(/must match/);
    }
    expect(idempotencyTableSql('hook_keys')).toContain('CREATE TABLE hook_keys');
    expect(() => idempotencyTableSql('x;y')).toThrow();
  });

  it('defaults to a 24 h TTL and refuses a TTL outside 1 h-7 d', () => {
    expect(idempotencyConfig()).toMatchObject({ ttlSeconds: 86_400, leaseSeconds: 30, required: false, table: 'idempotency_keys', packResponses: true });
    expect(() => idempotencyConfig({ ttlSeconds: 3_599 })).toThrow(/ttlSeconds/);
    expect(() => idempotencyConfig({ ttlSeconds: 604_801 })).toThrow(/ttlSeconds/);
    expect(() => idempotencyConfig({ leaseSeconds: 0 })).toThrow(/leaseSeconds/);
    expect(() => idempotencyConfig({ table: 'bad name' })).toThrow(/table name/);
  });

  it('reads the environment, refusing out-of-range values', () => {
    const env = idempotencyEnvSchema.parse({ IDEMPOTENCY_TTL_SECONDS: '3600', IDEMPOTENCY_REQUIRED: 'true', IDEMPOTENCY_LEASE_SECONDS: '5' });
    expect(toIdempotencyConfig(env)).toMatchObject({ ttlSeconds: 3_600, required: true, leaseSeconds: 5, sweepIntervalSeconds: 60 });
    expect(toIdempotencyConfig(idempotencyEnvSchema.parse({}))).toMatchObject({ ttlSeconds: 86_400, required: false, packResponses: true });
    expect(toIdempotencyConfig(idempotencyEnvSchema.parse({ IDEMPOTENCY_PACKED_RESPONSES: 'false' }))).toMatchObject({ packResponses: false });
    expect(idempotencyEnvSchema.safeParse({ IDEMPOTENCY_PACKED_RESPONSES: 'off' }).success).toBe(false);
    expect(idempotencyEnvSchema.safeParse({ IDEMPOTENCY_TTL_SECONDS: '60' }).success).toBe(false);
    expect(idempotencyEnvSchema.safeParse({ IDEMPOTENCY_TTL_SECONDS: '700000' }).success).toBe(false);
    expect(idempotencyEnvSchema.safeParse({ IDEMPOTENCY_REQUIRED: 'yes' }).success).toBe(false);
  });
});
