import { SignJWT } from 'jose';

export interface DevTokenOptions {
  secret: string;
  issuer: string;
  audience: string;
  tenant: string;
  sub: string;
  roles?: string[];
  /** Marks the token as a (legacy, primary-issuer) service account: `sat: true`. */
  serviceAccount?: boolean;
  scopes?: string[];
  /** Seconds, or a jose time span such as `'1h'`; default one hour. */
  expiresIn?: number | string;
}

/** Signs a primary-issuer (HS256) token, for the dev CLI and tests. */
export async function signDevToken(opts: DevTokenOptions): Promise<string> {
  const claims: Record<string, unknown> = { tid: opts.tenant, roles: opts.roles ?? [] };
  if (opts.serviceAccount) claims['sat'] = true;
  if (opts.scopes && opts.scopes.length > 0) claims['scope'] = opts.scopes.join(' ');
  const expiresIn = opts.expiresIn ?? 3600;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(opts.issuer)
    .setAudience(opts.audience)
    .setSubject(opts.sub)
    .setIssuedAt()
    .setExpirationTime(typeof expiresIn === 'number' ? Math.floor(Date.now() / 1000) + expiresIn : expiresIn)
    .sign(new TextEncoder().encode(opts.secret));
}
