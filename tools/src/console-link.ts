import { DEV_JWT_SECRET, signDevToken } from '@agentplane/auth';

export const CONSOLE_DEV_SUB = 'dev-admin';

/**
 * The console's address with a development admin token in the URL fragment (DESIGN §12): a browser never sends the
 * fragment to a server, so no access log sees the token; the console moves it into session storage.
 */
export async function consoleLink(gatewayUrl: string, env: Record<string, string | undefined>, ttlSeconds = 8 * 3600): Promise<string> {
  const token = await signDevToken({
    secret: env['AUTH_JWT_SECRET'] || DEV_JWT_SECRET,
    issuer: env['AUTH_JWT_ISSUER'] || 'agentplane',
    audience: env['AUTH_JWT_AUDIENCE'] || 'agentplane',
    tenant: env['STACK_CONSOLE_TENANT'] || 'dev',
    sub: CONSOLE_DEV_SUB,
    roles: ['admin'],
    expiresIn: ttlSeconds,
  });
  return `${gatewayUrl}/console/#token=${token}`;
}
