import { generateKeyPairSync } from 'node:crypto';
import { authEnvSchema, toAuthConfig } from './config.js';

const pem = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();

describe('authEnvSchema', () => {
  it('applies the defaults of DESIGN §11', () => {
    const env = authEnvSchema.parse({ AUTH_JWT_SECRET: 'x'.repeat(16) });
    expect(toAuthConfig(env)).toEqual({ jwtSecret: 'x'.repeat(16), issuer: 'agentplane', audience: 'agentplane', extraIssuers: [] });
  });

  it('parses extra issuers from JSON, defaulting the scope claim', () => {
    const env = authEnvSchema.parse({
      AUTH_JWT_SECRET: 'x'.repeat(16),
      AUTH_EXTRA_ISSUERS: JSON.stringify([{ issuer: 'https://ci.example', publicKeyPem: pem, audience: 'api' }]),
    });
    expect(toAuthConfig(env).extraIssuers).toEqual([{ issuer: 'https://ci.example', publicKeyPem: pem, audience: 'api', scopeClaim: 'scope' }]);
  });

  it('names the variable on a bad value', () => {
    const paths = (input: Record<string, string>) => {
      const result = authEnvSchema.safeParse(input);
      expect(result.success).toBe(false);
      return result.error!.issues.map((i) => i.path.join('.'));
    };
    expect(paths({ AUTH_JWT_SECRET: 'short' })).toEqual(['AUTH_JWT_SECRET']);
    expect(paths({ AUTH_JWT_SECRET: 'x'.repeat(16), AUTH_EXTRA_ISSUERS: '{oops' })).toEqual(['AUTH_EXTRA_ISSUERS']);
    expect(
      paths({ AUTH_JWT_SECRET: 'x'.repeat(16), AUTH_EXTRA_ISSUERS: JSON.stringify([{ issuer: 'i', publicKeyPem: 'nope', audience: 'a' }]) }),
    ).toEqual(['AUTH_EXTRA_ISSUERS.0.publicKeyPem']);
    expect(
      paths({ AUTH_JWT_SECRET: 'x'.repeat(16), AUTH_EXTRA_ISSUERS: JSON.stringify([{ issuer: 'agentplane', publicKeyPem: pem, audience: 'a' }]) }),
    ).toEqual(['AUTH_EXTRA_ISSUERS.0.issuer']);
  });
});
