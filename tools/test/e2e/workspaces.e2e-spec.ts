import { signDevToken } from '@agentplane/auth';
import { bootStack, call, waitFor, E2E_SECRET, type E2E } from './harness.js';

const primary = { secret: E2E_SECRET, issuer: 'agentplane', audience: 'agentplane' };
const member = (tenant: string, sub = 'max') => signDevToken({ ...primary, tenant, sub });
const admin = (tenant: string, sub = 'ada') => signDevToken({ ...primary, tenant, sub, roles: ['admin'] });
/** A workspace's own service account: `sub` is the workspace id. */
const workspaceAccount = (tenant: string, workspaceId: string) => signDevToken({ ...primary, tenant, sub: workspaceId, serviceAccount: true });

const SILENCE_SECONDS = 1;

describe('workspaces and the platform-agent install through the gateway', () => {
  let e2e: E2E;

  beforeAll(async () => {
    e2e = await bootStack('e2e_ws', { HEARTBEAT_SILENCE_SECONDS: String(SILENCE_SECONDS) });
  }, 90_000);

  afterAll(async () => {
    await e2e?.stop();
  });

  it('installs the platform agent over three roots with overlapping allowlists, then re-installs as a no-op (201, then 200 `created` false)', async () => {
    const org = 'acme';
    const a = await admin(org);
    const m = await member(org);
    const roots: string[] = [];
    for (const name of ['alpha', 'beta', 'gamma']) {
      const created = await call(e2e, 'POST', '/v1/workspaces', { token: m, body: { name } });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ orgId: org, parentId: null, name, kind: 'workspace', status: 'offline', lastHeartbeatAt: null });
      roots.push(created.body.id);
    }
    const enabled = await call(e2e, 'PUT', `/v1/workspaces/${roots[1]}/plugins/slack`, { token: await admin(org, 'bob') });
    expect(enabled.status).toBe(200);
    expect(enabled.body).toMatchObject({ workspaceId: roots[1], plugin: 'slack', enabledBy: 'user:bob' });
    expect((await call(e2e, 'PUT', `/v1/workspaces/${roots[0]}/plugins/slack`, { token: a })).status).toBe(200);
    expect((await call(e2e, 'PUT', `/v1/workspaces/${roots[0]}/plugins/git`, { token: a })).status).toBe(200);
    expect((await call(e2e, 'PUT', `/v1/workspaces/${roots[2]}/plugins/git`, { token: m })).status).toBe(403);

    const installed = await call(e2e, 'POST', '/v1/platform-agent/install', { token: a });
    expect(installed.status).toBe(201);
    expect(installed.body).toEqual({ status: 'installed', platformAgentId: expect.any(String), kind: 'platform', name: 'platform-agent', created: true, reparented: 3, allowlistMoved: 2 });
    const platformId: string = installed.body.platformAgentId;

    const platform = await call(e2e, 'GET', `/v1/workspaces/${platformId}`, { token: m });
    expect(platform.status).toBe(200);
    expect(platform.body).toMatchObject({ id: platformId, parentId: null, kind: 'platform', name: 'platform-agent', status: 'offline', lastHeartbeatAt: null });
    const listed = await call(e2e, 'GET', `/v1/workspaces?parentId=${platformId}`, { token: m });
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((w: { id: string }) => w.id).sort()).toEqual([...roots].sort());
    const plugins = await call(e2e, 'GET', `/v1/workspaces/${platformId}/plugins`, { token: a });
    expect(plugins.status).toBe(200);
    expect(plugins.body.items.map((p: { plugin: string; enabledBy: string }) => [p.plugin, p.enabledBy])).toEqual([
      ['git', 'user:ada'],
      ['slack', 'user:bob'],
    ]);
    expect((await call(e2e, 'GET', `/v1/workspaces/${roots[0]}/plugins`, { token: a })).status).toBe(409);

    const again = await call(e2e, 'POST', '/v1/platform-agent/install', { token: a, body: {} });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ status: 'installed', platformAgentId: platformId, kind: 'platform', name: 'platform-agent', created: false, reparented: 0, allowlistMoved: 0 });
    // The outbox registers workspaces with authz-proxy (JetStream): the platform agent, and each root's creator as owner.
    const check = async (token: string, resource: string) => (await call(e2e, 'POST', '/v1/authz/check', { token, body: { action: 'read', resource } })).body;
    expect(await waitFor(() => check(a, `workspace:${platformId}`), (d) => d?.allowed === true, 10_000)).toEqual({ allowed: true, reason: 'tenant_admin' });
    expect(await waitFor(() => check(m, `workspace:${roots[0]}`), (d) => d?.allowed === true, 10_000)).toEqual({ allowed: true, reason: 'owner' });
    expect(await check(await admin('globex'), `workspace:${platformId}`)).toEqual({ allowed: false, reason: 'not_found' });
    // The re-parenting reached authz too: a grant on the platform agent covers every former root.
    const carol = await member(org, 'carol');
    expect(await check(carol, `workspace:${roots[2]}`)).toEqual({ allowed: false, reason: 'no_relation' });
    const granted = await call(e2e, 'POST', '/v1/authz/grants', { token: a, body: { subject: 'user:carol', action: 'read', resource: `workspace:${platformId}` } });
    expect(granted.status).toBe(201);
    for (const root of roots) {
      expect(await waitFor(() => check(carol, `workspace:${root}`), (d) => d?.allowed === true, 10_000)).toEqual({ allowed: true, reason: 'inherited_grant' });
    }
    // New top-level workspaces go under the platform agent.
    expect((await call(e2e, 'POST', '/v1/workspaces', { token: m, body: { name: 'delta' } })).body).toMatchObject({ parentId: platformId });
  });

  it('shows the agent online only within the heartbeat window', async () => {
    const org = 'beat-co';
    const a = await admin(org);
    const { platformAgentId } = (await call(e2e, 'POST', '/v1/platform-agent/install', { token: a })).body as { platformAgentId: string };
    expect((await call(e2e, 'GET', `/v1/workspaces/${platformAgentId}`, { token: a })).body).toMatchObject({ status: 'offline', lastHeartbeatAt: null });
    expect((await call(e2e, 'POST', `/v1/workspaces/${platformAgentId}/heartbeat`, { token: await member(org) })).status).toBe(403);

    const beat = await call(e2e, 'POST', `/v1/workspaces/${platformAgentId}/heartbeat`, { token: await workspaceAccount(org, platformAgentId) });
    expect(beat.status).toBe(200);
    expect(beat.body).toMatchObject({ id: platformAgentId, status: 'online', lastHeartbeatAt: expect.any(String) });
    expect((await call(e2e, 'GET', `/v1/workspaces/${platformAgentId}`, { token: a })).body).toMatchObject({ status: 'online' });
    const later = await waitFor(
      async () => (await call(e2e, 'GET', `/v1/workspaces/${platformAgentId}`, { token: a })).body,
      (w: { status: string }) => w.status === 'offline',
      SILENCE_SECONDS * 1000 + 2000,
    );
    expect(later).toMatchObject({ status: 'offline', lastHeartbeatAt: beat.body.lastHeartbeatAt });
  });

  it('answers 409 naming a clashing root, changing nothing', async () => {
    const org = 'clash-co';
    const a = await admin(org);
    const root = await call(e2e, 'POST', '/v1/workspaces', { token: a, body: { name: 'ops' } });
    const clash = await call(e2e, 'POST', '/v1/platform-agent/install', { token: a, body: { name: 'ops' } });
    expect(clash.status).toBe(409);
    expect(clash.body.error).toMatchObject({ code: 'CONFLICT', details: { name: 'ops', conflictingWorkspaceId: root.body.id } });
    expect(clash.body.error.message).toContain('"ops"');
    const list = await call(e2e, 'GET', '/v1/workspaces', { token: a });
    expect(list.body.items).toEqual([root.body]);
  });

  it('keeps tenants apart (404) and admin-only routes admin-only (403)', async () => {
    const owner = await admin('acme');
    const { platformAgentId } = (await call(e2e, 'POST', '/v1/platform-agent/install', { token: owner })).body as { platformAgentId: string };
    const intruder = await admin('globex');
    for (const [method, path] of [
      ['GET', `/v1/workspaces/${platformAgentId}`],
      ['POST', `/v1/workspaces/${platformAgentId}/heartbeat`],
      ['GET', `/v1/workspaces/${platformAgentId}/plugins`],
      ['PUT', `/v1/workspaces/${platformAgentId}/plugins/evil`],
      ['DELETE', `/v1/workspaces/${platformAgentId}`],
    ] as const) {
      const r = await call(e2e, method, path, { token: intruder });
      expect([method, path, r.status]).toEqual([method, path, 404]);
      expect(r.body.error.code).toBe('NOT_FOUND');
    }
    const own = await call(e2e, 'POST', '/v1/platform-agent/install', { token: intruder });
    expect(own.body.platformAgentId).not.toBe(platformAgentId);
    expect((await call(e2e, 'POST', '/v1/platform-agent/install', { token: await member('acme') })).status).toBe(403);
    expect((await call(e2e, 'DELETE', `/v1/workspaces/${platformAgentId}`, { token: await member('acme') })).status).toBe(403);
  });

  it('validates input (400 with the field), removes with 204 and replays an idempotent create', async () => {
    const org = 'misc-co';
    const a = await admin(org);
    const bad = await call(e2e, 'GET', '/v1/workspaces/not-a-uuid', { token: a });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.issues[0].path).toBe('id');
    expect((await call(e2e, 'POST', '/v1/workspaces', { token: a, body: { name: '' } })).status).toBe(400);
    expect((await call(e2e, 'POST', '/v1/workspaces', { token: a })).status).toBe(400);

    const first = await call(e2e, 'POST', '/v1/workspaces', { token: a, body: { name: 'once' }, headers: { 'idempotency-key': 'ws-once' } });
    const retry = await call(e2e, 'POST', '/v1/workspaces', { token: a, body: { name: 'once' }, headers: { 'idempotency-key': 'ws-once' } });
    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');

    expect((await call(e2e, 'PUT', `/v1/workspaces/${first.body.id}/plugins/git`, { token: a })).status).toBe(200);
    expect((await call(e2e, 'DELETE', `/v1/workspaces/${first.body.id}/plugins/git`, { token: a })).status).toBe(204);
    // the allowlist's audit, newest first, in pages; a cursor it did not give names the field
    const changes = await call(e2e, 'GET', `/v1/workspaces/${first.body.id}/plugin-changes?limit=1`, { token: a });
    expect(changes.status).toBe(200);
    expect(changes.body.items).toEqual([{ workspaceId: first.body.id, plugin: 'git', change: 'disabled', changedBy: first.body.createdBy, changedAt: expect.any(String) }]);
    const older = await call(e2e, 'GET', `/v1/workspaces/${first.body.id}/plugin-changes?limit=1&cursor=${changes.body.nextCursor}`, { token: a });
    expect(older.body).toMatchObject({ items: [{ plugin: 'git', change: 'enabled' }], nextCursor: null, keptSince: null });
    const badCursor = await call(e2e, 'GET', `/v1/workspaces/${first.body.id}/plugin-changes?cursor=abc`, { token: a });
    expect([badCursor.status, badCursor.body.error.code, badCursor.body.error.details.issues[0].path]).toEqual([400, 'VALIDATION', 'cursor']);
    const removed = await call(e2e, 'DELETE', `/v1/workspaces/${first.body.id}`, { token: a });
    expect(removed.status).toBe(204);
    const gone = (await call(e2e, 'GET', `/v1/workspaces/${first.body.id}`, { token: a })).body;
    expect(gone).toMatchObject({ status: 'removed', createdBy: first.body.createdBy, removedBy: first.body.createdBy });
    expect(first.body).toMatchObject({ createdBy: expect.stringMatching(/^user:/), removedBy: null, removedAt: null });
    expect(Date.parse(gone.removedAt)).toBeGreaterThanOrEqual(Date.parse(first.body.createdAt));
    // the removed ones are listed apart, with who removed each; a status it does not know names the field
    const removedList = await call(e2e, 'GET', '/v1/workspaces?status=removed', { token: a });
    expect([removedList.status, removedList.body.items]).toEqual([200, [gone]]);
    expect((await call(e2e, 'GET', '/v1/workspaces', { token: a })).body.items).toEqual([]);
    const badStatus = await call(e2e, 'GET', '/v1/workspaces?status=deleted', { token: a });
    expect([badStatus.status, badStatus.body.error.code, badStatus.body.error.details.issues[0].path]).toEqual([400, 'VALIDATION', 'status']);
  });
});
