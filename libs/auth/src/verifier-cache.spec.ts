import { jest } from '@jest/globals';
import type { AuthConfig } from './config.js';
import { signDevToken } from './dev-token.js';
import { createTokenVerifier } from './verifier.js';

const config: AuthConfig = { jwtSecret: 'cache-test-secret-0123456789', issuer: 'agentplane', audience: 'agentplane', extraIssuers: [] };
const sign = (extra: object = {}) => signDevToken({ secret: config.jwtSecret, issuer: 'agentplane', audience: 'agentplane', tenant: 'acme', sub: 'alice', ...extra });

describe('verified-token cache', () => {
  afterEach(() => jest.restoreAllMocks());

  it('answers a re-presented token like the first time, with a principal the caller cannot corrupt', async () => {
    const verifier = createTokenVerifier(config);
    const token = await sign({ roles: ['admin'] });
    const first = await verifier.verify(token);
    first.roles.push('mutated');
    expect(await verifier.verify(token)).toEqual({ ...first, roles: ['admin'] });
  });

  it('never outlives the token: past exp a remembered token is rejected', async () => {
    const verifier = createTokenVerifier(config);
    const token = await sign({ expiresIn: 30 });
    await verifier.verify(token);
    const now = Date.now();
    jest.spyOn(Date, 'now').mockReturnValue(now + 31_000);
    // jose reads the clock itself; past exp + tolerance it rejects once the cache lets go
    jest.spyOn(Date.prototype, 'getTime').mockReturnValue(now + 40_000);
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('still rejects a token that differs by one byte from a remembered one', async () => {
    const verifier = createTokenVerifier(config);
    const token = await sign();
    await verifier.verify(token);
    // the signature's second-to-last character (all six of its bits count), replaced by a different one
    const tampered = `${token.slice(0, -2)}${token.at(-2) === 'A' ? 'B' : 'A'}${token.slice(-1)}`;
    expect(tampered).not.toBe(token);
    await expect(verifier.verify(tampered)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});
