import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDevIssuer, withDevIssuer } from '../../src/dev-issuer.js';
import { REPO_ROOT } from '../../src/stack.js';
import { bootStack, E2E_SECRET, type E2E } from './harness.js';

/** Runs the built demo (`npm run demo`) against the e2e stack, as a user would. */
function demo(e2e: E2E, keyFile: string, secret = E2E_SECRET): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(REPO_ROOT, 'tools', 'dist', 'demo.js'), '--url', e2e.url, '--ci-key', keyFile],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', AUTH_JWT_SECRET: secret }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

describe('npm run demo', () => {
  let e2e: E2E;
  let dir: string;
  let keyFile: string;

  beforeAll(async () => {
    // the development CI issuer exactly as `npm start` configures it, with its key in a scratch folder
    dir = mkdtempSync(join(tmpdir(), 'ap-demo-'));
    keyFile = join(dir, 'ci-issuer.pem');
    const dev = ensureDevIssuer(keyFile);
    e2e = await bootStack('e2e_demo', { AUTH_EXTRA_ISSUERS: withDevIssuer(undefined, dev.config) });
  }, 90_000);

  afterAll(async () => {
    await e2e?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('walks every step against the stack and exits 0; a second run against the same stack passes too', async () => {
    const first = await demo(e2e, keyFile);
    expect({ code: first.code, tail: first.out.split('\n').slice(-4).join('\n') }).toEqual({ code: 0, tail: expect.stringContaining('Demo passed: 13 steps') });
    // it ends with a console link for its tenant, the admin's token in the fragment (never a query string)
    expect(first.out).toMatch(/See it in the console \(tenant demo-[^)]+\): http:\/\/127\.0\.0\.1:\d+\/console\/#token=eyJ[\w-]+\.[\w-]+\.[\w-]+/);
    for (const line of [
      'Idempotent-Replayed: true',
      '✓ the retry returns the same task (no second task created)',
      '✓ cancelling it again is 409 CONFLICT (already terminal)',
      '✓ deployed by service_account:ci-pipeline',
      '✓ version 2, built by service_account:ci-pipeline',
      '✓ version 1 is live again (history kept)',
      '✓ the row resolves to the release that produced it (v2), even after the rollback to v1',
      '✓ installed: 2 roots re-parented, 2 distinct plugins moved',
      '✓ online, last heartbeat',
    ]) {
      expect(first.out).toContain(line);
    }
    expect(first.out).not.toContain('✗');
    const second = await demo(e2e, keyFile);
    expect(second.code).toBe(0);
  }, 120_000);

  it('exits 1 and names the step when a result is not what it should be (tokens signed with the wrong secret)', async () => {
    const res = await demo(e2e, keyFile, 'not-the-stack-secret-0123456789');
    expect(res.code).toBe(1);
    expect(res.out).toContain('✗ HTTP 201');
    expect(res.out).toContain('"status":401');
    expect(res.out).toContain('Demo FAILED');
  }, 60_000);
});
