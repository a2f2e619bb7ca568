import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ExtraIssuerConfig } from '@agentplane/auth';
import { REPO_ROOT } from './stack.js';

/**
 * The development extra (M2M, EdDSA) issuer that `npm start` trusts and `npm run demo` signs CI tokens with.
 * Its Ed25519 key pair is generated on first use into the git-ignored `.dev/` folder; never a real secret.
 */
export const DEV_CI_ISSUER = 'https://ci.agentplane.localhost';
export const DEV_CI_KEY_FILE = join(REPO_ROOT, '.dev', 'ci-issuer.pem');

export interface DevIssuer {
  config: ExtraIssuerConfig;
  privateKey: KeyObject;
  keyFile: string;
  created: boolean;
}

/** Reads the dev issuer's private key (PKCS#8 PEM) from `keyFile`, generating it first when missing. */
export function ensureDevIssuer(keyFile = DEV_CI_KEY_FILE): DevIssuer {
  let created = false;
  if (!existsSync(keyFile)) {
    mkdirSync(dirname(keyFile), { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    chmodSync(keyFile, 0o600);
    created = true;
  }
  return { ...loadDevIssuer(keyFile), created };
}

/** Reads an existing dev issuer key; throws a clear message when it is missing or not Ed25519. */
export function loadDevIssuer(keyFile = DEV_CI_KEY_FILE): Omit<DevIssuer, 'created'> {
  if (!existsSync(keyFile)) throw new Error(`${keyFile} is missing: start the stack with \`npm start\` (it creates the development CI issuer key)`);
  const privateKey = createPrivateKey({ key: readFileSync(keyFile), format: 'pem' });
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${keyFile} is not an Ed25519 private key`);
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  return { config: { issuer: DEV_CI_ISSUER, publicKeyPem, audience: 'agentplane', scopeClaim: 'scope' }, privateKey, keyFile };
}

/** `AUTH_EXTRA_ISSUERS` with the dev issuer added (replacing an entry of the same issuer name). */
export function withDevIssuer(extraIssuersJson: string | undefined, dev: ExtraIssuerConfig): string {
  const list = extraIssuersJson ? (JSON.parse(extraIssuersJson) as ExtraIssuerConfig[]) : [];
  if (!Array.isArray(list)) throw new Error('AUTH_EXTRA_ISSUERS must be a JSON array');
  return JSON.stringify([...list.filter((i) => i.issuer !== dev.issuer), dev]);
}
