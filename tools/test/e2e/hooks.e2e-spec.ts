import { SignJWT } from 'jose';
import { signDevToken } from '@agentplane/auth';
import { bootStack, call, waitFor, ciKeys, CI_ISSUER, CI_PUBLIC_PEM, E2E_SECRET, type E2E } from './harness.js';

const primary = { secret: E2E_SECRET, issuer: 'agentplane', audience: 'agentplane' };
const user = (tenant: string, sub: string, extra: object = {}) => signDevToken({ ...primary, tenant, sub, ...extra });

/** A machine token of the extra (EdDSA) issuer the stack trusts. */
function ciToken(claims: Record<string, unknown>) {
  return new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA' }).setIssuer(CI_ISSUER).setAudience('agentplane').setIssuedAt().setExpirationTime('5m').sign(ciKeys.privateKey);
}

const digest = (label: string) => `sha256:${Buffer.from(label.padEnd(32, '.')).toString('hex').slice(0, 64).padEnd(64, '0')}`;
const release = (label: string) => ({ image: `registry.example.test/hooks/${label}`, digest: digest(label), config: { label }, sourceRef: `git:${label}` });
const bundle = (labels: Record<string, string>) => ({
  slug: 'crm',
  schema: { fields: ['lead'] },
  hooks: Object.entries(labels).map(([name, label]) => ({ name, feature: `${name}.v1`, release: release(label) })),
});

describe('hook registry through the gateway, with machine credentials', () => {
  let e2e: E2E;

  beforeAll(async () => {
    e2e = await bootStack('e2e_hooks');
  }, 90_000);

  afterAll(async () => {
    await e2e?.stop();
  });

  it('gates deploys by scope: hooks:write alone is 403, conventions:write deploys (201), an identical re-deploy is 200', async () => {
    const hooksOnly = await ciToken({ sub: 'ci-release', tid: 'acme', scope: 'hooks:write' });
    const deployer = await ciToken({ sub: 'ci-deploy', tid: 'acme', scope: 'conventions:write' });
    const denied = await call(e2e, 'POST', '/v1/conventions', { token: hooksOnly, body: bundle({ score: 's1', tag: 't1' }) });
    expect({ status: denied.status, code: denied.body?.error?.code }).toEqual({ status: 403, code: 'FORBIDDEN' });

    const created = await call(e2e, 'POST', '/v1/conventions', { token: deployer, body: bundle({ score: 's1', tag: 't1' }) });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ changed: true, convention: { slug: 'crm', hookNames: ['score', 'tag'], updatedBy: 'service_account:ci-deploy' } });
    const same = await call(e2e, 'POST', '/v1/conventions', { token: deployer, body: bundle({ score: 's1', tag: 't1' }) });
    expect(same.status).toBe(200);
    expect(same.body.changed).toBe(false);
    const conflict = await call(e2e, 'POST', '/v1/conventions', { token: deployer, body: { ...bundle({ score: 's2' }), hooks: [{ name: 'score', feature: 'other.v1', release: release('s2') }] } });
    expect({ status: conflict.status, code: conflict.body?.error?.code }).toEqual({ status: 409, code: 'CONFLICT' });

    const convention = await call(e2e, 'GET', '/v1/conventions/crm', { token: await user('acme', 'alice') });
    expect(convention.status).toBe(200);
    expect(convention.body.hookNames).toEqual(['score', 'tag']);
  });

  it('releases with an M2M token: 201 new version (live, built_by the machine), 200 for a released digest; conventions:write alone cannot release', async () => {
    const releaser = await ciToken({ sub: 'ci-release', tid: 'acme', scope: 'hooks:write' });
    const r2 = await call(e2e, 'POST', '/v1/hooks/score/releases', { token: releaser, body: release('s2') });
    expect(r2.status).toBe(201);
    expect(r2.body).toMatchObject({ created: true, release: { hookName: 'score', version: 2, digest: digest('s2'), builtBy: 'service_account:ci-release' } });
    const again = await call(e2e, 'POST', '/v1/hooks/score/releases', { token: releaser, body: release('s2') });
    expect(again.status).toBe(200);
    expect(again.body.release.id).toBe(r2.body.release.id);

    const deployerOnly = await ciToken({ sub: 'ci-deploy', tid: 'acme', scope: 'conventions:write' });
    const denied = await call(e2e, 'POST', '/v1/hooks/score/releases', { token: deployerOnly, body: release('s3') });
    expect(denied.status).toBe(403);

    const keyed = { token: releaser, body: release('s3'), headers: { 'idempotency-key': 'release-s3' } };
    const first = await call(e2e, 'POST', '/v1/hooks/score/releases', keyed);
    const replay = await call(e2e, 'POST', '/v1/hooks/score/releases', keyed);
    expect([first.status, replay.status]).toEqual([201, 201]);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(first.body);

    const hook = await call(e2e, 'GET', '/v1/hooks/score', { token: await user('acme', 'alice') });
    expect(hook.body).toMatchObject({ name: 'score', feature: 'score.v1', liveVersion: 3 });
    const list = await call(e2e, 'GET', '/v1/hooks/score/releases?limit=2', { token: await user('acme', 'alice') });
    expect(list.body.items.map((r: { version: number }) => r.version)).toEqual([3, 2]);
    expect(list.body.nextCursor).toEqual(expect.any(String));
    const one = await call(e2e, 'GET', '/v1/hooks/score/releases/1', { token: await user('acme', 'alice') });
    expect(one.body).toMatchObject({ version: 1, digest: digest('s1'), builtBy: 'service_account:ci-deploy' });
  });

  it('refuses alg confusion and a token without sub (401) on the hook routes', async () => {
    const confused = await new SignJWT({ sub: 'mallory', tid: 'acme', scope: 'hooks:write conventions:write' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(CI_ISSUER)
      .setAudience('agentplane')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(CI_PUBLIC_PEM));
    const noSub = await ciToken({ tid: 'acme', scope: 'hooks:write conventions:write' });
    for (const token of [confused, noSub]) {
      for (const [method, path, body] of [
        ['POST', '/v1/hooks/score/releases', release('evil')],
        ['POST', '/v1/conventions', bundle({ evil: 'e1' })],
        ['PUT', '/v1/hooks/score/live', { version: 1 }],
      ] as const) {
        const res = await call(e2e, method, path, { token, body });
        expect({ path, status: res.status, code: res.body?.error?.code }).toEqual({ path, status: 401, code: 'UNAUTHENTICATED' });
      }
    }
  });

  it('rolls back, runs on the snapshot and traces an output to its release; the live-change audit names who and when', async () => {
    const ci = await ciToken({ sub: 'ci-runner', tid: 'acme', scope: 'hooks:write' });
    const runA = await call(e2e, 'POST', '/v1/hooks/score/runs', { token: ci });
    expect(runA.status).toBe(201);
    expect(runA.body.release.version).toBe(3);

    const rollback = await call(e2e, 'PUT', '/v1/hooks/score/live', { token: ci, body: { version: 1 } });
    expect([rollback.status, rollback.body.liveVersion, rollback.body.changed]).toEqual([200, 1, true]);
    // the same request again: v1 is live already, and the reply says nothing changed
    const again = await call(e2e, 'PUT', '/v1/hooks/score/live', { token: ci, body: { version: 1 } });
    expect([again.status, again.body.liveVersion, again.body.changed]).toEqual([200, 1, false]);
    const runB = await call(e2e, 'POST', '/v1/hooks/score/runs', { token: ci });
    expect(runB.body.release).toMatchObject({ version: 1, digest: digest('s1') });

    const outputs = await call(e2e, 'POST', `/v1/runs/${runA.body.runId}/outputs`, { token: ci, body: { rows: [{ lead: 'a' }] } });
    expect(outputs.status).toBe(201);
    const finished = await call(e2e, 'POST', `/v1/runs/${runA.body.runId}/finish`, { token: ci, body: { status: 'succeeded', oomRetries: 1 } });
    expect(finished.status).toBe(200);
    expect(finished.body).toMatchObject({ status: 'succeeded', oomRetries: 1, version: 3 });

    const prov = await call(e2e, 'GET', `/v1/outputs/${outputs.body.ids[0]}/provenance`, { token: await user('acme', 'alice') });
    expect(prov.status).toBe(200);
    expect(prov.body).toMatchObject({
      output: { payload: { lead: 'a' } },
      run: { id: runA.body.runId, status: 'succeeded' },
      release: { version: 3, digest: digest('s3'), config: { label: 's3' }, sourceRef: 'git:s3', builtBy: 'service_account:ci-release' },
      hook: { name: 'score', feature: 'score.v1', liveVersion: 1 },
    });

    const audit = await call(e2e, 'GET', '/v1/hooks/score/live-changes', { token: await user('acme', 'alice') });
    expect(audit.status).toBe(200);
    expect(audit.body.items[0]).toMatchObject({ fromVersion: 3, toVersion: 1, reason: 'set_live', changedBy: 'service_account:ci-runner' });
    expect(Date.now() - Date.parse(audit.body.items[0].changedAt)).toBeLessThan(60_000);
    expect(audit.body.items.map((c: { toVersion: number }) => c.toVersion)).toEqual([1, 3, 2, 1]);
  });

  it('has no route that updates or deletes a release (405, and Allow says what there is), and hides another tenant\'s hook (404)', async () => {
    const admin = await user('acme', 'root', { roles: ['admin'] });
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      for (const [path, allow] of [['/v1/hooks/score/releases/1', 'GET, HEAD'], ['/v1/hooks/score/releases', 'GET, HEAD, POST']] as const) {
        const res = await call(e2e, method, path, { token: admin, body: release('evil') });
        expect({ method, path, status: res.status, allow: res.headers.get('allow'), code: res.body?.error?.code }).toEqual({ method, path, status: 405, allow, code: 'VALIDATION' });
      }
    }
    const one = await call(e2e, 'GET', '/v1/hooks/score/releases/1', { token: admin });
    expect(one.body.digest).toBe(digest('s1'));

    const other = await user('globex', 'bob', { roles: ['admin'] });
    expect((await call(e2e, 'GET', '/v1/hooks/score', { token: other })).status).toBe(404);
    expect((await call(e2e, 'POST', '/v1/hooks/score/releases', { token: other, body: release('x') })).status).toBe(404);
    expect((await call(e2e, 'GET', '/v1/hooks', { token: other })).body.items).toEqual([]);
  });

  it('registers the hook with authz-proxy through the outbox (the deployer owns it)', async () => {
    const hook = await call(e2e, 'GET', '/v1/hooks/tag', { token: await user('acme', 'alice') });
    const deployer = await ciToken({ sub: 'ci-deploy', tid: 'acme', scope: 'conventions:write' });
    const check = await waitFor(
      () => call(e2e, 'POST', '/v1/authz/check', { token: deployer, body: { action: 'write', resource: `hook:${hook.body.id}` } }),
      (r) => r.body?.reason !== 'not_found',
      10_000,
    );
    expect(check.status).toBe(200);
    expect(check.body).toMatchObject({ allowed: true });
  });
});
