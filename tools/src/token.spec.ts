import { createTokenVerifier, DEV_JWT_SECRET } from '@agentplane/auth';
import { tokenFromArgs } from './token.js';

describe('dev token CLI', () => {
  it('signs a token the services accept, defaulting to the dev secret', async () => {
    const token = await tokenFromArgs(['--tenant', 'acme', '--sub', 'ci', '--service-account', '--roles', 'admin', '--scopes', 'hooks:write,conventions:write'], {});
    const verifier = createTokenVerifier({ jwtSecret: DEV_JWT_SECRET, issuer: 'agentplane', audience: 'agentplane', extraIssuers: [] });
    await expect(verifier.verify(token)).resolves.toEqual({
      kind: 'service_account',
      tenantId: 'acme',
      serviceAccountId: 'ci',
      roles: ['admin'],
      scopes: ['hooks:write', 'conventions:write'],
      issuer: 'agentplane',
    });
  });

  it('uses the configured secret, issuer and audience', async () => {
    const env = { AUTH_JWT_SECRET: 'prod-like-secret-0123456789', AUTH_JWT_ISSUER: 'iss', AUTH_JWT_AUDIENCE: 'aud' };
    const token = await tokenFromArgs(['--tenant', 'acme', '--sub', 'u1'], env);
    const verifier = createTokenVerifier({ jwtSecret: env.AUTH_JWT_SECRET, issuer: 'iss', audience: 'aud', extraIssuers: [] });
    await expect(verifier.verify(token)).resolves.toMatchObject({ kind: 'user', userId: 'u1', roles: [] });
  });

  it('refuses missing or unknown flags', async () => {
    await expect(tokenFromArgs(['--tenant', 'acme'], {})).rejects.toThrow(/required/);
    await expect(tokenFromArgs(['--tenant', 'acme', '--sub', 'u', '--bogus'], {})).rejects.toThrow();
    await expect(tokenFromArgs(['--tenant', 'acme', '--sub', 'u', '--ttl', '-5'], {})).rejects.toThrow(/ttl/);
  });
});
