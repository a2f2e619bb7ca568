import type pg from 'pg';
import type { Workspace } from '@agentplane/contracts';
import { deleteEventsStream } from '@agentplane/messaging';
import type { TestDatabase } from '@agentplane/persistence';
import { NatsCaller, testPrefix, userToken, type RawReply, type RunningService } from '@agentplane/testing';
import { platformAgentIdOf } from '../src/workspaces/workspace.js';
import { installerDatabase, liveRoots, snapshot, sqlClient, startInstaller, stateAfter, waitForLockWait } from './setup.js';

interface InstallReply {
  status: 'installed';
  platformAgentId: string;
  kind: 'platform';
  name: string;
  created: boolean;
  reparented: number;
  allowlistMoved: number;
}

describe('installing the platform agent (real PostgreSQL + NATS)', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let caller: NatsCaller;
  let sql: pg.Client;
  const prefix = testPrefix('ws_install');

  beforeAll(async () => {
    db = await installerDatabase();
    svc = await startInstaller(db, prefix, { DATABASE_POOL_MAX: '20' });
    caller = await NatsCaller.connect(prefix);
    sql = await sqlClient(db);
  });

  afterAll(async () => {
    await sql?.end();
    await svc?.close();
    await deleteEventsStream(caller.nc, prefix).catch(() => undefined);
    await caller?.close();
    await db?.drop();
  });

  const admin = (org: string, sub = 'root-admin') => userToken(org, sub, { roles: ['admin'] });

  async function req(subject: string, body: unknown, token: string): Promise<RawReply['body']> {
    return (await caller.request(`workspaces.v1.${subject}`, body, { token, timeoutMs: 15_000 })).body;
  }
  async function ok<T>(subject: string, body: unknown, token: string): Promise<T> {
    const reply = await req(subject, body, token);
    if (!reply.ok) throw new Error(`${subject} failed: ${JSON.stringify(reply.error)}`);
    return reply.data as T;
  }
  const install = async (org: string, body: { name?: string } = {}) => ok<InstallReply>('install_platform_agent', body, await admin(org));
  const createRoot = async (org: string, name: string) => ok<Workspace>('create', { name }, await admin(org));

  it('folds three roots with overlapping allowlists into one platform root, keeping the earliest enablement', async () => {
    const org = 'org-three';
    const [a, b, c] = [await createRoot(org, 'alpha'), await createRoot(org, 'beta'), await createRoot(org, 'gamma')];
    const ann = await admin(org, 'ann');
    const bob = await admin(org, 'bob');
    // slack: first on beta (bob), later on alpha (ann) — bob's enablement is the one to keep.
    await ok('enable_plugin', { id: b.id, plugin: 'slack' }, bob);
    await ok('enable_plugin', { id: b.id, plugin: 'jira' }, bob);
    await ok('enable_plugin', { id: a.id, plugin: 'git' }, ann);
    await ok('enable_plugin', { id: a.id, plugin: 'slack' }, ann);
    await ok('enable_plugin', { id: c.id, plugin: 'pager' }, ann);
    const before = await ok<{ items: Array<{ plugin: string; enabledBy: string; enabledAt: string }> }>('list_plugins', { id: b.id }, bob);
    const bobSlack = before.items.find((p) => p.plugin === 'slack')!;

    const r = await install(org);
    expect(r).toEqual({ status: 'installed', platformAgentId: platformAgentIdOf(org), kind: 'platform', name: 'platform-agent', created: true, reparented: 3, allowlistMoved: 4 });

    const roots = await liveRoots(sql, org);
    expect(roots).toEqual([{ id: r.platformAgentId, parent_id: null, name: 'platform-agent', kind: 'platform', status: 'offline' }]);
    for (const w of [a, b, c]) {
      expect(await ok<Workspace>('get', { id: w.id }, ann)).toMatchObject({ parentId: r.platformAgentId, kind: 'workspace' });
    }
    const plugins = await ok<{ items: Array<{ workspaceId: string; plugin: string; enabledBy: string; enabledAt: string }> }>('list_plugins', { id: r.platformAgentId }, ann);
    expect(plugins.items.map((p) => [p.plugin, p.enabledBy])).toEqual([
      ['git', 'user:ann'],
      ['jira', 'user:bob'],
      ['pager', 'user:ann'],
      ['slack', 'user:bob'],
    ]);
    expect(plugins.items.find((p) => p.plugin === 'slack')).toEqual({ ...bobSlack, workspaceId: r.platformAgentId });
    const leftovers = await sql.query(`SELECT 1 FROM org_plugin_allowlist WHERE root_workspace_id = ANY($1::uuid[])`, [[a.id, b.id, c.id]]);
    expect(leftovers.rowCount).toBe(0);
    // The audit says what moved where, by whom: each former root's plugins out, each plugin in once
    type Change = { workspaceId: string; plugin: string; change: string; changedBy: string };
    const changes = async (id: string) => (await ok<{ items: Change[] }>('list_plugin_changes', { id }, ann)).items.map((c) => [c.plugin, c.change, c.changedBy]);
    expect(await changes(r.platformAgentId)).toEqual([
      ['slack', 'moved_in', 'user:root-admin'],
      ['pager', 'moved_in', 'user:root-admin'],
      ['jira', 'moved_in', 'user:root-admin'],
      ['git', 'moved_in', 'user:root-admin'],
    ]);
    expect(await changes(a.id)).toEqual([
      ['slack', 'moved_out', 'user:root-admin'],
      ['git', 'moved_out', 'user:root-admin'],
      ['slack', 'enabled', 'user:ann'],
      ['git', 'enabled', 'user:ann'],
    ]);
    expect(await changes(b.id)).toEqual([
      ['slack', 'moved_out', 'user:root-admin'],
      ['jira', 'moved_out', 'user:root-admin'],
      ['jira', 'enabled', 'user:bob'],
      ['slack', 'enabled', 'user:bob'],
    ]);
    // The allowlist is a root's: the former roots now answer CONFLICT.
    expect(await req('enable_plugin', { id: a.id, plugin: 'x' }, ann)).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });

    // The platform agent is registered with authz through the outbox, and the relay publishes it.
    const resource = `workspace:${r.platformAgentId}`;
    const deadline = Date.now() + 10_000;
    let published = false;
    while (!published && Date.now() < deadline) {
      const row = await sql.query(`SELECT published_at FROM outbox WHERE subject = 'events.workspaces.resource_registered' AND payload->>'resource' = $1`, [resource]);
      published = row.rows[0]?.published_at != null;
      if (!published) await new Promise((res) => setTimeout(res, 50));
    }
    expect(published).toBe(true);
  });

  it('re-installing is a no-op', async () => {
    const org = 'org-three';
    const before = await snapshot(sql, org);
    const outbox = (await sql.query('SELECT count(*)::int AS n FROM outbox')).rows[0].n;
    const again = await install(org);
    expect(again).toEqual({ status: 'installed', platformAgentId: platformAgentIdOf(org), kind: 'platform', name: 'platform-agent', created: false, reparented: 0, allowlistMoved: 0 });
    expect(await snapshot(sql, org)).toEqual(before);
    expect((await sql.query('SELECT count(*)::int AS n FROM outbox')).rows[0].n).toBe(outbox);
  });

  it('renames on a re-run with another name, and brings a removed platform agent back as new (its removal cleared)', async () => {
    const org = 'org-revive';
    const first = await install(org);
    expect(first).toMatchObject({ name: 'platform-agent', created: true });
    const renamed = await install(org, { name: 'control' });
    expect(renamed).toMatchObject({ name: 'control', created: false, reparented: 0 });
    const id = first.platformAgentId;
    await ok('enable_plugin', { id, plugin: 'git' }, await admin(org));
    await ok('heartbeat', { id }, await admin(org));
    await ok('remove', { id }, await admin(org, 'remover'));
    expect(await ok<Workspace>('get', { id }, await admin(org))).toMatchObject({ status: 'removed', removedBy: 'user:remover' });

    const back = await install(org);
    // A removed row is not an installed platform agent: it comes back under the default name, as a new install.
    expect(back).toEqual({ status: 'installed', platformAgentId: id, kind: 'platform', name: 'platform-agent', created: true, reparented: 0, allowlistMoved: 0 });
    expect(await ok<Workspace>('get', { id }, await admin(org))).toMatchObject({
      name: 'platform-agent',
      kind: 'platform',
      status: 'offline',
      lastHeartbeatAt: null,
      removedBy: null,
      removedAt: null,
    });
    expect(await ok<{ items: unknown[] }>('list_plugins', { id }, await admin(org))).toEqual({ items: [] });
    expect(await install(org)).toMatchObject({ created: false });
  });

  it('creates new top-level workspaces under the platform agent once it is installed', async () => {
    const org = 'org-three';
    const w = await createRoot(org, 'delta');
    expect(w.parentId).toBe(platformAgentIdOf(org));
    expect(await liveRoots(sql, org)).toHaveLength(1);
  });

  it('keeps the earlier enablement when the platform root already allows a plugin a late root brings', async () => {
    const org = 'org-three';
    const platformId = platformAgentIdOf(org);
    // A legacy root (written around the service, as old data would be) with an older and a newer enablement.
    const legacy = (await sql.query<{ id: string }>(`INSERT INTO workspaces (id, org_id, name) VALUES (gen_random_uuid(), $1, 'legacy') RETURNING id::text`, [org])).rows[0]!.id;
    await sql.query(
      `INSERT INTO org_plugin_allowlist (root_workspace_id, plugin, enabled_by, enabled_at)
       VALUES ($1, 'slack', 'user:old-timer', '2020-01-01T00:00:00Z'), ($1, 'git', 'user:latecomer', now() + interval '1 day')`,
      [legacy],
    );
    const gitBefore = (await sql.query<{ enabled_by: string; enabled_at: Date }>(`SELECT enabled_by, enabled_at FROM org_plugin_allowlist WHERE root_workspace_id = $1 AND plugin = 'git'`, [platformId])).rows[0];
    const r = await install(org);
    expect(r).toMatchObject({ reparented: 1, allowlistMoved: 2 });
    const rows = await sql.query(`SELECT plugin, enabled_by, enabled_at FROM org_plugin_allowlist WHERE root_workspace_id = $1 AND plugin IN ('slack', 'git') ORDER BY plugin`, [platformId]);
    expect(rows.rows).toEqual([
      { plugin: 'git', ...gitBefore },
      { plugin: 'slack', enabled_by: 'user:old-timer', enabled_at: new Date('2020-01-01T00:00:00Z') },
    ]);
    // The audit holds what took effect: git left the legacy root but the platform root's git row did not change
    const ann = await admin(org, 'ann');
    const changes = async (id: string) => (await ok<{ items: Array<{ plugin: string; change: string }> }>('list_plugin_changes', { id }, ann)).items;
    // (slack's earlier enablement did take over its row; the last four lines are the first install's)
    expect((await changes(platformId)).map((c) => [c.plugin, c.change])).toEqual([
      ['slack', 'moved_in'],
      ['slack', 'moved_in'],
      ['pager', 'moved_in'],
      ['jira', 'moved_in'],
      ['git', 'moved_in'],
    ]);
    expect((await changes(legacy)).map((c) => [c.plugin, c.change])).toEqual([
      ['slack', 'moved_out'],
      ['git', 'moved_out'],
    ]);
  });

  it('8 concurrent installs for one org all succeed with the same id and leave exactly one platform root', async () => {
    const org = 'org-race';
    await createRoot(org, 'one');
    await createRoot(org, 'two');
    const token = await admin(org);
    const replies = await Promise.all(Array.from({ length: 8 }, () => req('install_platform_agent', {}, token)));
    for (const r of replies) expect(r).toMatchObject({ ok: true, data: { platformAgentId: platformAgentIdOf(org) } });
    const data = replies.map((r) => r.data as InstallReply);
    expect(data.reduce((n, d) => n + d.reparented, 0)).toBe(2);
    expect(data.filter((d) => d.reparented > 0)).toHaveLength(1);
    const roots = await liveRoots(sql, org);
    expect(roots.map((w) => [w.name, w.kind])).toEqual([['platform-agent', 'platform']]);
  });

  it('a root created while an install holds its locks ends up under the platform agent, never beside it', async () => {
    const org = 'org-midflight';
    const first = await createRoot(org, 'first');
    const token = await admin(org);
    await ok('enable_plugin', { id: first.id, plugin: 'git' }, token);

    // Pause the install inside its transaction: it has the org lock and the roots FOR UPDATE, and waits on the
    // allowlist row we hold while it deletes the moved rows.
    const blocker = await sqlClient(db);
    try {
      await blocker.query('BEGIN');
      await blocker.query(`SELECT 1 FROM org_plugin_allowlist WHERE root_workspace_id = $1 FOR UPDATE`, [first.id]);
      const installing = req('install_platform_agent', {}, token);
      await waitForLockWait(sql, /DELETE FROM org_plugin_allowlist/);

      const creating = req('create', { name: 'late' }, token);
      await waitForLockWait(sql, /pg_advisory_xact_lock/);
      expect(await stateAfter(creating, 200)).toBe('pending');
      // A root inserted concurrently under an explicit parent that the install holds waits too.
      const underFirst = req('create', { name: 'child-of-first', parentId: first.id }, token);
      expect(await stateAfter(underFirst, 200)).toBe('pending');

      await blocker.query('COMMIT');
      const installed = await installing;
      expect(installed).toMatchObject({ ok: true, data: { reparented: 1, allowlistMoved: 1 } });
      const late = await creating;
      expect(late).toMatchObject({ ok: true, data: { name: 'late', parentId: platformAgentIdOf(org) } });
      expect(await underFirst).toMatchObject({ ok: true, data: { parentId: first.id } });
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end();
    }
    expect((await liveRoots(sql, org)).map((w) => w.kind)).toEqual(['platform']);
  });

  it('a root committed while the install waits for the org lock is re-parented by it', async () => {
    const org = 'org-waiting';
    await createRoot(org, 'early');
    const token = await admin(org);
    // Play a create that holds the org lock (the same key the service takes) and has inserted a root.
    const creator = await sqlClient(db);
    try {
      await creator.query('BEGIN');
      await creator.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`workspace-installer:org:${org}`]);
      await creator.query(`INSERT INTO workspaces (id, org_id, name) VALUES (gen_random_uuid(), $1, 'concurrent')`, [org]);
      const installing = req('install_platform_agent', {}, token);
      await waitForLockWait(sql, /pg_advisory_xact_lock/);
      await creator.query('COMMIT');
      expect(await installing).toMatchObject({ ok: true, data: { reparented: 2 } });
    } finally {
      await creator.query('ROLLBACK').catch(() => undefined);
      await creator.end();
    }
    expect((await liveRoots(sql, org)).map((w) => w.name)).toEqual(['platform-agent']);
  });

  it('refuses a name another root has (CONFLICT naming it) and changes nothing', async () => {
    const org = 'org-clash';
    const alpha = await createRoot(org, 'alpha');
    await createRoot(org, 'platform-agent');
    await ok('enable_plugin', { id: alpha.id, plugin: 'git' }, await admin(org));
    const before = await snapshot(sql, org);

    const named = await req('install_platform_agent', { name: 'alpha' }, await admin(org));
    expect(named).toMatchObject({ ok: false, error: { code: 'CONFLICT', details: { name: 'alpha', conflictingWorkspaceId: alpha.id } } });
    expect((named as { error: { message: string } }).error.message).toContain('"alpha"');
    const byDefault = await req('install_platform_agent', {}, await admin(org));
    expect(byDefault).toMatchObject({ ok: false, error: { code: 'CONFLICT', details: { name: 'platform-agent' } } });
    expect(await snapshot(sql, org)).toEqual(before);

    // Another name works, and both old roots (names intact) move under it.
    expect(await install(org, { name: 'control-plane' })).toMatchObject({ reparented: 2 });
    const names = (await sql.query(`SELECT name FROM workspaces WHERE org_id = $1 ORDER BY name`, [org])).rows.map((r) => r.name);
    expect(names).toEqual(['alpha', 'control-plane', 'platform-agent']);
  });

  it('installs two orgs independently, even with the same names and plugins', async () => {
    const orgs = ['org-x', 'org-y'];
    for (const org of orgs) {
      const main = await createRoot(org, 'main');
      await ok('enable_plugin', { id: main.id, plugin: 'git' }, await admin(org));
    }
    const [x, y] = await Promise.all(orgs.map((org) => install(org)));
    expect(x!.platformAgentId).not.toBe(y!.platformAgentId);
    expect([x!.reparented, y!.reparented, x!.allowlistMoved, y!.allowlistMoved]).toEqual([1, 1, 1, 1]);
    for (const org of orgs) expect((await liveRoots(sql, org)).map((w) => w.kind)).toEqual(['platform']);
  });

  it('keeps other tenants out: NOT_FOUND to read, heartbeat or manage plugins; an install only touches the caller\'s org', async () => {
    const victim = 'org-x';
    const platformId = platformAgentIdOf(victim);
    const before = await snapshot(sql, victim);
    const intruder = await admin('org-intruder');
    for (const [subject, body] of [
      ['get', { id: platformId }],
      ['heartbeat', { id: platformId }],
      ['list_plugins', { id: platformId }],
      ['enable_plugin', { id: platformId, plugin: 'evil' }],
      ['disable_plugin', { id: platformId, plugin: 'git' }],
      ['remove', { id: platformId }],
      ['create', { name: 'inside', parentId: platformId }],
    ] as const) {
      expect(await req(subject, body, intruder)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    }
    const own = await ok<InstallReply>('install_platform_agent', {}, intruder);
    expect(own.platformAgentId).toBe(platformAgentIdOf('org-intruder'));
    expect(own.platformAgentId).not.toBe(platformId);
    expect(await snapshot(sql, victim)).toEqual(before);
    // A member who is not an admin may not install.
    expect(await req('install_platform_agent', {}, await userToken(victim, 'mallory'))).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
  });
});
