import { createTokenVerifier } from '@agentplane/auth';
import { consoleLink } from './console-link.js';

describe('npm start console link', () => {
  it('carries a development admin token in the fragment, never in the query string', async () => {
    const env = { AUTH_JWT_SECRET: 'stack-secret-0123456789abcdefghij', STACK_CONSOLE_TENANT: 'acme' };
    const link = new URL(await consoleLink('http://127.0.0.1:3000', env));
    expect(`${link.origin}${link.pathname}`).toBe('http://127.0.0.1:3000/console/');
    expect(link.search).toBe('');
    const token = new URLSearchParams(link.hash.slice(1)).get('token');
    const verifier = createTokenVerifier({ jwtSecret: env.AUTH_JWT_SECRET, issuer: 'agentplane', audience: 'agentplane', extraIssuers: [] });
    await expect(verifier.verify(token ?? '')).resolves.toMatchObject({ kind: 'user', tenantId: 'acme', userId: 'dev-admin', roles: ['admin'] });
  });
});
