import { signDevToken } from '@agentplane/auth';
import { bootStack, call, E2E_SECRET, type E2E } from './harness.js';
import { callerOf } from './harness.js';

const primary = { secret: E2E_SECRET, issuer: 'agentplane', audience: 'agentplane' };
const token = (tenant: string, sub: string, extra: object = {}) => signDevToken({ ...primary, tenant, sub, ...extra });
const AGENT = 'agent:7b0c0b3e-3b7a-4a3e-9d3a-9c1f1f6f0a11';
const task = (n: number) => `task:7b0c0b3e-3b7a-4a3e-9d3a-${String(n).padStart(12, '0')}`;

describe('authz REST routes through the gateway', () => {
  let e2e: E2E;
  let alice: string; // owns the agent
  let carol: string; // no relation at first
  let admin: string; // acme tenant admin
  let mallory: string; // another tenant

  beforeAll(async () => {
    e2e = await bootStack('e2e_authz');
    alice = await token('acme', 'alice');
    carol = await token('acme', 'carol');
    admin = await token('acme', 'root', { roles: ['admin'] });
    mallory = await token('globex', 'mallory', { roles: ['admin'] });
    // What the tasks service does when it creates resources (sync registration): register them over NATS with its
    // own token, as its own NATS identity (registration is not a public subject: a caller's identity may not).
    const caller = await callerOf(e2e, 'tasks');
    try {
      const svc = await token('acme', 'tasks-svc', { serviceAccount: true });
      const reg = async (body: object) => expect((await caller.request('authz.v1.register', body, { token: svc })).body.ok).toBe(true);
      await reg({ resource: AGENT, tenant: 'acme', owner: 'user:alice' });
      for (let i = 1; i <= 3; i++) await reg({ resource: task(i), tenant: 'acme', parent: AGENT });
    } finally {
      await caller.close();
    }
  }, 120_000);

  afterAll(async () => {
    await e2e?.stop();
  });

  it('answers a check for the caller', async () => {
    const res = await call(e2e, 'POST', '/v1/authz/check', { token: alice, body: { action: 'write', resource: AGENT } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ allowed: true, reason: 'owner' });
    const other = await call(e2e, 'POST', '/v1/authz/check', { token: mallory, body: { action: 'read', resource: AGENT } });
    expect(other.body).toEqual({ allowed: false, reason: 'not_found' });
  });

  it('asking about another subject needs admin', async () => {
    const body = { subject: 'user:alice', action: 'write', resource: AGENT };
    const denied = await call(e2e, 'POST', '/v1/authz/check', { token: carol, body });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('FORBIDDEN');
    const allowed = await call(e2e, 'POST', '/v1/authz/check', { token: admin, body });
    expect(allowed.status).toBe(200);
    expect(allowed.body.allowed).toBe(true);
    // a tenant admin of another tenant learns nothing
    const foreign = await call(e2e, 'POST', '/v1/authz/check', { token: mallory, body });
    expect(foreign.body).toEqual({ allowed: false, reason: 'not_found' });
  });

  it('grants (201) and revokes (204) with admin on the resource; others get 403 or 404', async () => {
    const body = { subject: 'user:carol', action: 'read', resource: AGENT };
    expect((await call(e2e, 'POST', '/v1/authz/grants', { token: carol, body })).status).toBe(404);
    expect((await call(e2e, 'POST', '/v1/authz/grants', { token: alice, body })).status).toBe(403);
    const granted = await call(e2e, 'POST', '/v1/authz/grants', { token: admin, body, headers: { 'Idempotency-Key': 'g-1' } });
    expect(granted.status).toBe(201);
    expect(granted.body).toEqual({ ...body, created: true });
    const replay = await call(e2e, 'POST', '/v1/authz/grants', { token: admin, body, headers: { 'Idempotency-Key': 'g-1' } });
    expect([replay.status, replay.body]).toEqual([201, { ...body, created: true }]);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    // the same grant asked again (not a replay): held already, nothing changed, and the answer says so
    const again = await call(e2e, 'POST', '/v1/authz/grants', { token: admin, body });
    expect([again.status, again.body]).toEqual([200, { ...body, created: false }]);
    // a resource of a type no grant can name: 400 naming it and the types, where it was "tenant not found"
    for (const resource of ['tenant:acme', 'agents:x']) {
      const refused = await call(e2e, 'POST', '/v1/authz/grants', { token: admin, body: { ...body, resource } });
      expect([refused.status, refused.body.error.details.issues]).toEqual([400, [{ path: 'resource', message: 'grants are on an agent, task, hook, release, run or workspace (<type>:<id>)' }]]);
    }
    const inherited = await call(e2e, 'POST', '/v1/authz/check', { token: carol, body: { action: 'read', resource: task(2) } });
    expect(inherited.body).toEqual({ allowed: true, reason: 'inherited_grant' });

    const page1 = await call(e2e, 'GET', '/v1/authz/lookup?action=read&type=task&limit=2', { token: carol });
    expect(page1.status).toBe(200);
    expect(page1.body.items).toEqual([task(1), task(2)]);
    const page2 = await call(e2e, 'GET', `/v1/authz/lookup?action=read&type=task&limit=2&cursor=${page1.body.nextCursor}`, { token: carol });
    expect(page2.body).toEqual({ items: [task(3)], nextCursor: null });

    const revoked = await call(e2e, 'DELETE', '/v1/authz/grants', { token: admin, body });
    expect(revoked.status).toBe(204);
    expect(revoked.text).toBe('');
    const gone = await call(e2e, 'POST', '/v1/authz/check', { token: carol, body: { action: 'read', resource: task(2) } });
    expect(gone.body.allowed).toBe(false);
    expect((await call(e2e, 'GET', '/v1/authz/lookup?action=read&type=task', { token: carol })).body).toEqual({ items: [], nextCursor: null });
  });

  it('explains a decision by the tuples behind it, with check\'s access rule (another subject needs admin)', async () => {
    const owner = await call(e2e, 'POST', '/v1/authz/explain', { token: alice, body: { action: 'write', resource: AGENT } });
    expect(owner).toMatchObject({ status: 200, body: { allowed: true, reason: 'owner', path: [`${AGENT}#tenant@tenant:acme`, `${AGENT}#owner@user:alice`] } });
    await call(e2e, 'POST', '/v1/authz/grants', { token: admin, body: { subject: 'user:carol', action: 'cancel', resource: AGENT } });
    const inherited = await call(e2e, 'POST', '/v1/authz/explain', { token: admin, body: { subject: 'user:carol', action: 'cancel', resource: task(3) } });
    expect(inherited.body).toEqual({ allowed: true, reason: 'inherited_grant', path: [`${task(3)}#tenant@tenant:acme`, `${task(3)}#parent@${AGENT}`, `${AGENT}#cancel@user:carol`] });
    const denied = await call(e2e, 'POST', '/v1/authz/explain', { token: carol, body: { action: 'delete', resource: task(3) } });
    expect(denied.body).toMatchObject({ allowed: false, reason: 'no_relation' });
    expect(denied.body.path).toEqual(expect.arrayContaining([`missing ${task(3)}#delete@user:carol`, `missing ${AGENT}#delete@user:carol`]));
    expect((await call(e2e, 'POST', '/v1/authz/explain', { token: carol, body: { subject: 'user:alice', action: 'read', resource: AGENT } })).status).toBe(403);
    expect((await call(e2e, 'POST', '/v1/authz/explain', { token: mallory, body: { action: 'read', resource: AGENT } })).body).toEqual({ allowed: false, reason: 'not_found', path: ['missing agent:7b0c0b3e-3b7a-4a3e-9d3a-9c1f1f6f0a11#tenant@tenant:globex'] });
    await call(e2e, 'DELETE', '/v1/authz/grants', { token: admin, body: { subject: 'user:carol', action: 'cancel', resource: AGENT } });
  });

  it('says who holds what on a resource by a grant, and who granted and revoked it when (admin on it)', async () => {
    const body = { subject: 'user:carol', action: 'execute', resource: AGENT };
    expect((await call(e2e, 'POST', '/v1/authz/grants', { token: admin, body })).status).toBe(201);
    const q = `resource=${encodeURIComponent(AGENT)}`;
    const now = await call(e2e, 'GET', `/v1/authz/grants?${q}`, { token: admin });
    expect(now.status).toBe(200);
    expect(now.body.items).toContainEqual({ subject: 'user:carol', action: 'execute', grantedBy: 'user:root', grantedAt: expect.any(String) });
    expect((await call(e2e, 'DELETE', '/v1/authz/grants', { token: admin, body })).status).toBe(204);
    expect((await call(e2e, 'GET', `/v1/authz/grants?${q}`, { token: admin })).body.items).not.toContainEqual(expect.objectContaining({ action: 'execute' }));
    const log = await call(e2e, 'GET', `/v1/authz/grants/history?${q}&limit=2`, { token: admin });
    expect(log.status).toBe(200);
    expect(log.body.items).toEqual([
      { change: 'revoked', subject: 'user:carol', action: 'execute', by: 'user:root', at: expect.any(String) },
      { change: 'granted', subject: 'user:carol', action: 'execute', by: 'user:root', at: expect.any(String) },
    ]);
    expect(log.body.nextCursor).toEqual(expect.any(String));
    expect(log.body.keptSince).toBeNull(); // no AUTHZ_GRANT_HISTORY_RETENTION_HOURS: every line is kept
    // the owner may do all but admin: seeing who has access is admin's, as granting is
    expect((await call(e2e, 'GET', `/v1/authz/grants?${q}`, { token: alice })).status).toBe(403);
    expect((await call(e2e, 'GET', `/v1/authz/grants/history?${q}`, { token: mallory })).status).toBe(404);
    const bad = await call(e2e, 'GET', '/v1/authz/grants?resource=agent', { token: admin });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.issues[0].path).toBe('resource');
  });

  it('lets only a tenant admin set its tenant\'s mode', async () => {
    expect((await call(e2e, 'PUT', '/v1/authz/tenants/acme/mode', { token: alice, body: { mode: 'legacy' } })).status).toBe(403);
    expect((await call(e2e, 'PUT', '/v1/authz/tenants/acme/mode', { token: mallory, body: { mode: 'legacy' } })).status).toBe(403);
    expect((await call(e2e, 'PUT', '/v1/authz/tenants/acme/mode', { token: admin, body: { mode: 'bogus' } })).status).toBe(400);
    const set = await call(e2e, 'PUT', '/v1/authz/tenants/acme/mode', { token: admin, body: { mode: 'legacy' } });
    expect(set).toMatchObject({ status: 200, body: { tenantId: 'acme', mode: 'legacy' } });
    const legacy = await call(e2e, 'POST', '/v1/authz/check', { token: carol, body: { action: 'delete', resource: task(1) } });
    expect(legacy.body).toEqual({ allowed: true, reason: 'tenant_member' });
    await call(e2e, 'PUT', '/v1/authz/tenants/acme/mode', { token: admin, body: { mode: 'enforce' } });
  });

  it('documents the routes in the OpenAPI document', async () => {
    const doc = await call(e2e, 'GET', '/docs-json');
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/v1/authz/check', '/v1/authz/explain', '/v1/authz/grants', '/v1/authz/grants/history', '/v1/authz/lookup', '/v1/authz/tenants/{tenantId}/mode', '/v1/authz/tenants/{tenantId}/status']));
    expect(doc.body.paths['/v1/authz/grants'].delete.responses['204']).toBeDefined();
    expect(doc.body.paths['/v1/authz/grants'].get.responses['200']).toBeDefined();
    expect(doc.body.paths['/v1/authz/explain'].post.responses['200']).toBeDefined();
    expect(doc.body.paths['/v1/authz/tenants/{tenantId}/status'].get.responses['200']).toBeDefined();
    expect(doc.body.paths['/v1/authz/tenants/{tenantId}/mode'].put.requestBody.content['application/json'].schema.properties.mode).toBeDefined();
  });
});
