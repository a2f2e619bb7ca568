import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isEd25519PublicKeyPem } from '@agentplane/auth';
import { DEV_CI_ISSUER, ensureDevIssuer, withDevIssuer } from './dev-issuer.js';

describe('the development CI issuer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ap-dev-issuer-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('creates an Ed25519 key once (owner-only file), then reads the same key', () => {
    const file = join(dir, 'nested', 'ci-issuer.pem');
    const first = ensureDevIssuer(file);
    expect(first.created).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(isEd25519PublicKeyPem(first.config.publicKeyPem)).toBe(true);
    const again = ensureDevIssuer(file);
    expect(again.created).toBe(false);
    expect(again.config.publicKeyPem).toBe(first.config.publicKeyPem);
  });

  it('adds itself to AUTH_EXTRA_ISSUERS, keeping the others and replacing a stale entry of its own', () => {
    const dev = ensureDevIssuer(join(dir, 'k.pem')).config;
    const other = { issuer: 'https://ci.example.test', publicKeyPem: 'x', audience: 'agentplane', scopeClaim: 'scp' };
    const stale = { ...dev, publicKeyPem: 'old' };
    expect(JSON.parse(withDevIssuer(JSON.stringify([other, stale]), dev))).toEqual([other, dev]);
    expect(JSON.parse(withDevIssuer(undefined, dev))).toEqual([{ issuer: DEV_CI_ISSUER, publicKeyPem: dev.publicKeyPem, audience: 'agentplane', scopeClaim: 'scope' }]);
  });
});
