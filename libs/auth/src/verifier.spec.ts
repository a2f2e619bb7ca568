import { generateKeyPairSync } from 'node:crypto';
import { DomainError } from '@agentplane/domain';
import { base64url, importPKCS8, SignJWT, type CryptoKey } from 'jose';
import type { AuthConfig } from './config.js';
import { signDevToken } from './dev-token.js';
import { createTokenVerifier } from './verifier.js';

const SECRET = 'test-secret-0123456789abcdef';

function ed25519() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

const ci = ed25519();
const wiz = ed25519();
const stranger = ed25519();

const config: AuthConfig = {
  jwtSecret: SECRET,
  issuer: 'agentplane',
  audience: 'agentplane',
  extraIssuers: [
    { issuer: 'https://ci.example', publicKeyPem: ci.publicKeyPem, audience: 'agentplane-api', scopeClaim: 'scope' },
    { issuer: 'https://wiz.example', publicKeyPem: wiz.publicKeyPem, audience: 'agentplane-api', scopeClaim: 'scp' },
  ],
};
const verifier = createTokenVerifier(config);

const now = () => Math.floor(Date.now() / 1000);
const dev = (over: Partial<Parameters<typeof signDevToken>[0]> = {}) =>
  signDevToken({ secret: SECRET, issuer: 'agentplane', audience: 'agentplane', tenant: 'acme', sub: 'u1', ...over });

async function edToken(
  privateKeyPem: string,
  claims: Record<string, unknown>,
  opts: { iss?: string; aud?: string; sub?: string | null; exp?: number } = {},
): Promise<string> {
  const key: CryptoKey = await importPKCS8(privateKeyPem, 'EdDSA');
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA' })
    .setIssuer(opts.iss ?? 'https://ci.example')
    .setAudience(opts.aud ?? 'agentplane-api')
    .setExpirationTime(opts.exp ?? now() + 600);
  if (opts.sub !== null) jwt.setSubject(opts.sub ?? 'deployer');
  return jwt.sign(key);
}

function unsigned(payload: Record<string, unknown>): string {
  const enc = (o: object) => base64url.encode(JSON.stringify(o));
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc(payload)}.`;
}

async function rejection(token: string | Promise<string>): Promise<DomainError> {
  try {
    await verifier.verify(await token);
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe('UNAUTHENTICATED');
    return err as DomainError;
  }
  throw new Error('token was accepted');
}

describe('token verifier: accepted tokens', () => {
  it('turns a primary-issuer token into a user principal', async () => {
    await expect(verifier.verify(await dev({ roles: ['admin'], scopes: ['hooks:write', 'conventions:write'] }))).resolves.toEqual({
      kind: 'user',
      tenantId: 'acme',
      userId: 'u1',
      roles: ['admin'],
      scopes: ['hooks:write', 'conventions:write'],
      issuer: 'agentplane',
    });
  });

  it('turns a primary-issuer token with sat:true into a (legacy) service account', async () => {
    await expect(verifier.verify(await dev({ sub: 'ci-bot', serviceAccount: true }))).resolves.toEqual({
      kind: 'service_account',
      tenantId: 'acme',
      serviceAccountId: 'ci-bot',
      roles: [],
      scopes: [],
      issuer: 'agentplane',
    });
  });

  it('reads primary-issuer scopes from an scp array too', async () => {
    const token = await new SignJWT({ tid: 'acme', scp: ['hooks:write'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('agentplane')
      .setAudience('agentplane')
      .setSubject('u1')
      .setExpirationTime(now() + 60)
      .sign(new TextEncoder().encode(SECRET));
    await expect(verifier.verify(token)).resolves.toMatchObject({ kind: 'user', roles: [], scopes: ['hooks:write'] });
  });

  it('accepts an extra-issuer M2M token with a space-separated scope claim', async () => {
    const token = await edToken(ci.privateKeyPem, { tid: 'acme', scope: 'hooks:write  conventions:write' });
    await expect(verifier.verify(token)).resolves.toEqual({
      kind: 'service_account',
      tenantId: 'acme',
      serviceAccountId: 'deployer',
      roles: [],
      scopes: ['hooks:write', 'conventions:write'],
      issuer: 'https://ci.example',
    });
  });

  it('accepts an extra-issuer M2M token with an scp array, and ignores roles it claims', async () => {
    const token = await edToken(wiz.privateKeyPem, { tid: 'acme', scp: ['hooks:write'], roles: ['admin'] }, { iss: 'https://wiz.example' });
    await expect(verifier.verify(token)).resolves.toEqual({
      kind: 'service_account',
      tenantId: 'acme',
      serviceAccountId: 'deployer',
      roles: [],
      scopes: ['hooks:write'],
      issuer: 'https://wiz.example',
    });
  });
});

describe('token verifier: rejected tokens', () => {
  it('rejects an empty or malformed token', async () => {
    expect((await rejection('')).message).toBe('missing token');
    expect((await rejection('not-a-jwt')).message).toBe('malformed token');
  });

  it('rejects alg:none, for the primary and an extra issuer', async () => {
    await rejection(unsigned({ iss: 'agentplane', aud: 'agentplane', sub: 'u1', tid: 'acme', roles: ['admin'], exp: now() + 60 }));
    await rejection(unsigned({ iss: 'https://ci.example', aud: 'agentplane-api', sub: 'd', tid: 'acme', exp: now() + 60 }));
  });

  it('rejects HS256 signed with the extra issuer public key PEM as the secret', async () => {
    const token = await new SignJWT({ tid: 'acme', scope: 'hooks:write' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://ci.example')
      .setAudience('agentplane-api')
      .setSubject('deployer')
      .setExpirationTime(now() + 60)
      .sign(new TextEncoder().encode(ci.publicKeyPem));
    expect((await rejection(token)).message).toBe('algorithm not allowed');
  });

  it('rejects an EdDSA token claiming the primary issuer', async () => {
    expect((await rejection(edToken(ci.privateKeyPem, { tid: 'acme' }, { iss: 'agentplane', aud: 'agentplane' }))).message).toBe(
      'algorithm not allowed',
    );
  });

  it('rejects an unknown issuer', async () => {
    expect((await rejection(edToken(stranger.privateKeyPem, { tid: 'acme' }, { iss: 'https://evil.example' }))).message).toBe('unknown issuer');
    expect((await rejection(signDevToken({ secret: SECRET, issuer: 'other', audience: 'agentplane', tenant: 'acme', sub: 'u1' }))).message).toBe(
      'unknown issuer',
    );
  });

  it('rejects expired tokens', async () => {
    expect((await rejection(dev({ expiresIn: -3600 }))).message).toBe('token expired');
    expect((await rejection(edToken(ci.privateKeyPem, { tid: 'acme' }, { exp: now() - 3600 }))).message).toBe('token expired');
  });

  it('rejects a token without exp', async () => {
    const token = await new SignJWT({ tid: 'acme' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('agentplane')
      .setAudience('agentplane')
      .setSubject('u1')
      .sign(new TextEncoder().encode(SECRET));
    expect((await rejection(token)).message).toBe('exp claim rejected');
  });

  it('rejects bad signatures', async () => {
    expect((await rejection(signDevToken({ secret: 'another-secret-0123456789', issuer: 'agentplane', audience: 'agentplane', tenant: 'acme', sub: 'u1' }))).message).toBe(
      'invalid signature',
    );
    // signed by a stranger's key but claiming the CI issuer
    expect((await rejection(edToken(stranger.privateKeyPem, { tid: 'acme' }))).message).toBe('invalid signature');
    // signed by another configured issuer's key
    expect((await rejection(edToken(wiz.privateKeyPem, { tid: 'acme' }))).message).toBe('invalid signature');
  });

  it('rejects the wrong audience', async () => {
    expect((await rejection(signDevToken({ secret: SECRET, issuer: 'agentplane', audience: 'elsewhere', tenant: 'acme', sub: 'u1' }))).message).toBe(
      'aud claim rejected',
    );
    expect((await rejection(edToken(ci.privateKeyPem, { tid: 'acme' }, { aud: 'agentplane' }))).message).toBe('aud claim rejected');
  });

  it('rejects a missing sub, never mapping it to a shared id', async () => {
    expect((await rejection(edToken(ci.privateKeyPem, { tid: 'acme', scope: 'hooks:write' }, { sub: null }))).message).toBe('sub claim rejected');
    const primary = await new SignJWT({ tid: 'acme' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('agentplane')
      .setAudience('agentplane')
      .setExpirationTime(now() + 60)
      .sign(new TextEncoder().encode(SECRET));
    expect((await rejection(primary)).message).toBe('sub claim rejected');
    expect((await rejection(dev({ sub: '' }))).message).toMatch(/sub/);
  });

  it('rejects a missing tid', async () => {
    expect((await rejection(edToken(ci.privateKeyPem, { scope: 'hooks:write' }))).message).toBe('tid is missing');
    expect((await rejection(dev({ tenant: '' }))).message).toBe('tid is missing');
  });

  it('rejects control characters in tid or sub', async () => {
    expect((await rejection(dev({ tenant: 'acme\u001ebeta' }))).message).toBe('tid contains a control character');
    expect((await rejection(dev({ sub: 'u1\nadmin' }))).message).toBe('sub contains a control character');
    expect((await rejection(edToken(ci.privateKeyPem, { tid: 'acme\u0000' }))).message).toBe('tid contains a control character');
    expect((await rejection(edToken(ci.privateKeyPem, { tid: 'acme' }, { sub: 'd\u001f' }))).message).toBe('sub contains a control character');
  });

  it('rejects malformed roles or scopes instead of guessing', async () => {
    const token = await new SignJWT({ tid: 'acme', roles: 'admin', scp: [1] })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('agentplane')
      .setAudience('agentplane')
      .setSubject('u1')
      .setExpirationTime(now() + 60)
      .sign(new TextEncoder().encode(SECRET));
    // a string role is accepted as a space-separated list; a non-string scope is not
    expect((await rejection(token)).message).toBe('scp claim is malformed');
  });
});

describe('token verifier: configuration', () => {
  it('refuses a key that is not Ed25519 or an issuer configured twice', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const extra = { issuer: 'x', publicKeyPem: rsa, audience: 'a', scopeClaim: 'scope' };
    expect(() => createTokenVerifier({ ...config, extraIssuers: [extra] })).toThrow(/not an Ed25519/);
    expect(() => createTokenVerifier({ ...config, extraIssuers: [{ ...extra, issuer: 'agentplane', publicKeyPem: ci.publicKeyPem }] })).toThrow(
      /configured twice/,
    );
    expect(() => createTokenVerifier({ ...config, jwtSecret: 'short' })).toThrow(/16 characters/);
  });
});
