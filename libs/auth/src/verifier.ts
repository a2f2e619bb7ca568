import { assertSafeId, DomainError, type Principal } from '@agentplane/domain';
import { decodeJwt, errors, importSPKI, jwtVerify, type CryptoKey, type JWTPayload } from 'jose';
import { isEd25519PublicKeyPem, type AuthConfig, type ExtraIssuerConfig } from './config.js';

export interface TokenVerifier {
  /** Resolves to the caller's principal; rejects with `DomainError('UNAUTHENTICATED')` on any failure. */
  verify(token: string): Promise<Principal>;
}

/** Seconds of clock skew tolerated between services on `exp`/`nbf`. */
export const CLOCK_TOLERANCE_S = 5;
const MAX_TOKEN_LENGTH = 8192;

const unauthenticated = (reason: string): DomainError => new DomainError('UNAUTHENTICATED', reason);

/** Verified tokens remembered (every request re-presents its caller's token; authz checks sit on every request). */
const CACHE_MAX_ENTRIES = 10_000;
const CACHE_MAX_AGE_MS = 60_000;

interface Verified {
  principal: Principal;
  /** Epoch ms until which the verdict stands: the token's `exp`, at most CACHE_MAX_AGE_MS after verification. */
  until: number;
}

const copy = (p: Principal): Principal => ({ ...p, roles: [...p.roles], scopes: [...p.scopes] });

interface ExtraIssuer extends ExtraIssuerConfig {
  key: Promise<CryptoKey>;
}

export function createTokenVerifier(config: AuthConfig): TokenVerifier {
  if (config.jwtSecret.length < 16) throw new Error('auth: the primary JWT secret must be at least 16 characters');
  const rawSecret = new TextEncoder().encode(config.jwtSecret);
  // Imported once: given raw bytes, jose imports the HMAC key again on every verification.
  const secret = crypto.subtle.importKey('raw', rawSecret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  secret.catch(() => undefined);
  // Keyed by the exact token bytes, so a hit is the same verdict for the same input; only `exp` can change it.
  const verified = new Map<string, Verified>();

  const extras = new Map<string, ExtraIssuer>();
  for (const extra of config.extraIssuers) {
    if (extra.issuer === config.issuer || extras.has(extra.issuer)) {
      throw new Error(`auth: issuer ${extra.issuer} is configured twice`);
    }
    if (!isEd25519PublicKeyPem(extra.publicKeyPem)) {
      throw new Error(`auth: the key of issuer ${extra.issuer} is not an Ed25519 SPKI public key`);
    }
    const key = importSPKI(extra.publicKeyPem, 'EdDSA');
    key.catch(() => undefined); // checked above; surfaced on first use if it still fails
    extras.set(extra.issuer, { ...extra, key });
  }

  async function verifyPrimary(token: string): Promise<Principal> {
    const { payload } = await jwtVerify(token, await secret, {
      algorithms: ['HS256'],
      issuer: config.issuer,
      audience: config.audience,
      requiredClaims: ['exp', 'sub'],
      clockTolerance: CLOCK_TOLERANCE_S,
    });
    const tenantId = assertSafeId('tid', payload['tid']);
    const id = assertSafeId('sub', payload.sub);
    const roles = stringList(payload, 'roles') ?? [];
    const scopes = stringList(payload, 'scope') ?? stringList(payload, 'scp') ?? [];
    return payload['sat'] === true
      ? { kind: 'service_account', tenantId, serviceAccountId: id, roles, scopes, issuer: config.issuer }
      : { kind: 'user', tenantId, userId: id, roles, scopes, issuer: config.issuer };
  }

  async function verifyExtra(token: string, extra: ExtraIssuer): Promise<Principal> {
    // The header's `alg` is never trusted: only EdDSA with this issuer's own key.
    const { payload } = await jwtVerify(token, await extra.key, {
      algorithms: ['EdDSA'],
      issuer: extra.issuer,
      audience: extra.audience,
      requiredClaims: ['exp', 'sub'],
      clockTolerance: CLOCK_TOLERANCE_S,
    });
    const tenantId = assertSafeId('tid', payload['tid']);
    const id = assertSafeId('sub', payload.sub);
    const scopes = stringList(payload, extra.scopeClaim) ?? [];
    // Roles are not taken from an external issuer: it may grant scopes, never tenant admin.
    return { kind: 'service_account', tenantId, serviceAccountId: id, roles: [], scopes, issuer: extra.issuer };
  }

  function remember(token: string, principal: Principal, exp: unknown): void {
    if (typeof exp !== 'number') return;
    const now = Date.now();
    const until = Math.min(exp * 1000, now + CACHE_MAX_AGE_MS);
    if (until <= now) return;
    if (verified.size >= CACHE_MAX_ENTRIES) verified.delete(verified.keys().next().value as string);
    verified.set(token, { principal: copy(principal), until });
  }

  return {
    async verify(token: string): Promise<Principal> {
      if (typeof token !== 'string' || token.length === 0) throw unauthenticated('missing token');
      if (token.length > MAX_TOKEN_LENGTH) throw unauthenticated('token too large');
      const hit = verified.get(token);
      if (hit) {
        if (hit.until > Date.now()) return copy(hit.principal);
        verified.delete(token);
      }
      let claims: JWTPayload;
      try {
        claims = decodeJwt(token); // unverified: only picks the key (and, once verified, how long to remember it)
      } catch {
        throw unauthenticated('malformed token');
      }
      const iss = claims.iss;
      let principal: Principal | undefined;
      try {
        if (iss === config.issuer) principal = await verifyPrimary(token);
        const extra = typeof iss === 'string' ? extras.get(iss) : undefined;
        if (!principal && extra) principal = await verifyExtra(token, extra);
      } catch (err) {
        throw toUnauthenticated(err);
      }
      if (!principal) throw unauthenticated('unknown issuer');
      remember(token, principal, claims.exp);
      return principal;
    },
  };
}

/** A claim holding scopes or roles: a space-separated string or an array of strings; absent → undefined. */
function stringList(payload: JWTPayload, claim: string): string[] | undefined {
  const value = payload[claim];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value.split(/\s+/).filter((s) => s.length > 0);
  if (Array.isArray(value) && value.every((v): v is string => typeof v === 'string')) return [...value];
  throw unauthenticated(`${claim} claim is malformed`);
}

function toUnauthenticated(err: unknown): DomainError {
  if (err instanceof DomainError) return err.code === 'UNAUTHENTICATED' ? err : unauthenticated('invalid token');
  if (err instanceof errors.JWTExpired) return unauthenticated('token expired');
  if (err instanceof errors.JWTClaimValidationFailed) return unauthenticated(`${err.claim} claim rejected`);
  if (err instanceof errors.JOSEAlgNotAllowed) return unauthenticated('algorithm not allowed');
  if (err instanceof errors.JWSSignatureVerificationFailed) return unauthenticated('invalid signature');
  return unauthenticated('invalid token');
}
