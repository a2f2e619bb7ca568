import { createPublicKey } from 'node:crypto';
import { z } from 'zod';

/** Development-only HS256 secret used by the dev token CLI and the local stack. Never deploy with it. */
export const DEV_JWT_SECRET = 'dev-secret-change-me-0123456789abcdef';

export interface ExtraIssuerConfig {
  issuer: string;
  /** Ed25519 public key, SPKI PEM (`-----BEGIN PUBLIC KEY-----`). */
  publicKeyPem: string;
  audience: string;
  /** Claim holding the scopes: `scope` (space-separated string), `scp` (array) or another claim name. */
  scopeClaim: 'scope' | 'scp' | (string & {});
}

export interface AuthConfig {
  /** HS256 secret of the primary issuer. */
  jwtSecret: string;
  issuer: string;
  audience: string;
  extraIssuers: ExtraIssuerConfig[];
}

/** True when the PEM is an Ed25519 SPKI public key. */
export function isEd25519PublicKeyPem(pem: string): boolean {
  try {
    const key = createPublicKey({ key: pem, format: 'pem' });
    return key.type === 'public' && key.asymmetricKeyType === 'ed25519';
  } catch {
    return false;
  }
}

export const extraIssuerSchema = z.object({
  issuer: z.string().min(1),
  publicKeyPem: z.string().refine(isEd25519PublicKeyPem, 'must be an Ed25519 public key in SPKI PEM form'),
  audience: z.string().min(1),
  scopeClaim: z.string().min(1).default('scope'),
});

const extraIssuersJson = z
  .string()
  .default('[]')
  .transform((raw, ctx): unknown => {
    try {
      return JSON.parse(raw);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON array' });
      return z.NEVER;
    }
  })
  .pipe(z.array(extraIssuerSchema));

/** The auth part of a service's environment (DESIGN §11). Merge into the app's own config schema. */
export const authEnvSchema = z
  .object({
    AUTH_JWT_SECRET: z.string().min(16, 'must be at least 16 characters'),
    AUTH_JWT_ISSUER: z.string().min(1).default('agentplane'),
    AUTH_JWT_AUDIENCE: z.string().min(1).default('agentplane'),
    AUTH_EXTRA_ISSUERS: extraIssuersJson,
  })
  .superRefine((env, ctx) => {
    // Tokens are routed by `iss`, so an issuer may have only one key.
    const seen = new Set([env.AUTH_JWT_ISSUER]);
    env.AUTH_EXTRA_ISSUERS.forEach((extra, i) => {
      if (seen.has(extra.issuer)) {
        ctx.addIssue({ code: 'custom', path: ['AUTH_EXTRA_ISSUERS', i, 'issuer'], message: `issuer ${extra.issuer} is configured twice` });
      }
      seen.add(extra.issuer);
    });
  });

export type AuthEnv = z.infer<typeof authEnvSchema>;

export function toAuthConfig(env: AuthEnv): AuthConfig {
  return {
    jwtSecret: env.AUTH_JWT_SECRET,
    issuer: env.AUTH_JWT_ISSUER,
    audience: env.AUTH_JWT_AUDIENCE,
    extraIssuers: env.AUTH_EXTRA_ISSUERS.map((e) => ({ ...e })),
  };
}
