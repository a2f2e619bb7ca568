import { signDevToken } from '@agentplane/auth';

/** Secret, issuer and audience every test app and token share. */
export const TEST_AUTH = {
  secret: 'test-secret-0123456789-abcdefghij',
  issuer: 'agentplane',
  audience: 'agentplane',
} as const;

export const TEST_AUTH_ENV = {
  AUTH_JWT_SECRET: TEST_AUTH.secret,
  AUTH_JWT_ISSUER: TEST_AUTH.issuer,
  AUTH_JWT_AUDIENCE: TEST_AUTH.audience,
};

export function userToken(tenant: string, sub: string, opts: { roles?: string[]; scopes?: string[]; expiresIn?: number } = {}): Promise<string> {
  return signDevToken({ ...TEST_AUTH, tenant, sub, ...opts });
}

export function serviceAccountToken(tenant: string, sub: string, opts: { roles?: string[]; scopes?: string[] } = {}): Promise<string> {
  return signDevToken({ ...TEST_AUTH, tenant, sub, serviceAccount: true, ...opts });
}
