import type pg from 'pg';
import type { Workspace } from '@agentplane/contracts';
import type { TestDatabase } from '@agentplane/persistence';
import { NatsCaller, serviceAccountToken, testPrefix, userToken, type RawReply, type RunningService } from '@agentplane/testing';
import { HeartbeatSweeper } from '../src/workspaces/heartbeat-sweeper.js';
import { WorkspacesRepository } from '../src/workspaces/workspaces.repository.js';
import { installerDatabase, sqlClient, startInstaller, stateAfter, waitForLockWait } from './setup.js';

const SILENCE_SECONDS = 1;

describe('workspaces, plugins and heartbeats over NATS (real PostgreSQL + NATS)', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let caller: NatsCaller;
  let sql: pg.Client;
  const prefix = testPrefix('ws_crud');

  beforeAll(async () => {
    db = await installerDatabase();
    // A short silence window; the sweeper is driven by hand so the test sees reads before and after it runs.
    svc = await startInstaller(db, prefix, { HEARTBEAT_SILENCE_SECONDS: String(SILENCE_SECONDS), HEARTBEAT_SWEEPER: 'off', OUTBOX_RELAY: 'off' });
    caller = await NatsCaller.connect(prefix);
    sql = await sqlClient(db);
  });

  afterAll(async () => {
    await sql?.end();
    await svc?.close();
    await caller?.close();
    await db?.drop();
  });

  const admin = (org: string) => userToken(org, 'ada', { roles: ['admin'] });
  const member = (org: string) => userToken(org, 'max');

  async function req(subject: string, body: unknown, token: string): Promise<RawReply['body']> {
    return (await caller.request(`workspaces.v1.${subject}`, body, { token })).body;
  }
  async function ok<T>(subject: string, body: unknown, token: string): Promise<T> {
    const reply = await req(subject, body, token);
    if (!reply.ok) throw new Error(`${subject} failed: ${JSON.stringify(reply.error)}`);
    return reply.data as T;
  }

  it('lets a member create and read workspaces; names are unique among live siblings only', async () => {
    const org = 'org-crud';
    const m = await member(org);
    const root = await ok<Workspace>('create', { name: 'team' }, m);
    expect(root).toMatchObject({ orgId: org, parentId: null, name: 'team', kind: 'workspace', status: 'offline', lastHeartbeatAt: null });
    expect(root).toMatchObject({ createdBy: 'user:max', removedBy: null, removedAt: null });
    expect(await ok<Workspace>('get', { id: root.id }, m)).toEqual(root);
    // Two roots are siblings too (NULLS NOT DISTINCT).
    expect(await req('create', { name: 'team' }, m)).toMatchObject({ ok: false, error: { code: 'CONFLICT', details: { field: 'name' } } });
    const child = await ok<Workspace>('create', { name: 'team', parentId: root.id }, m);
    expect(child.parentId).toBe(root.id);
    expect(await req('create', { name: 'team', parentId: root.id }, m)).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });
    // Same name in another org is fine.
    expect(await ok<Workspace>('create', { name: 'team' }, await member('org-other'))).toMatchObject({ orgId: 'org-other' });

    const listed = await ok<{ items: Workspace[]; nextCursor: string | null }>('list', { limit: 1 }, m);
    expect(listed.items).toHaveLength(1);
    const rest = await ok<{ items: Workspace[]; nextCursor: string | null }>('list', { limit: 10, cursor: listed.nextCursor }, m);
    expect([...listed.items, ...rest.items].map((w) => w.id).sort()).toEqual([root.id, child.id].sort());
    expect(rest.nextCursor).toBeNull();
    expect((await ok<{ items: Workspace[] }>('list', { parentId: root.id }, m)).items.map((w) => w.id)).toEqual([child.id]);
  });

  it('answers VALIDATION with the field path and never writes on bad input', async () => {
    const m = await member('org-bad');
    expect(await req('create', { name: '' }, m)).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'name' }] } } });
    expect(await req('create', { name: 'x', parentId: 'nope' }, m)).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'parentId' }] } } });
    expect(await req('create', { name: 'x', extra: 1 }, m)).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    expect(await req('get', { id: 42 }, m)).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'id' }] } } });
    expect(await req('list', { cursor: 'not-a-cursor' }, m)).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    expect(await req('list', { status: 'gone' }, m)).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'status' }] } } });
    expect(await req('install_platform_agent', { name: 'a\u0000b' }, await admin('org-bad'))).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'name' }] } } });
    expect(await req('create', { name: 'x', parentId: '00000000-0000-4000-8000-000000000000' }, m)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect((await sql.query(`SELECT 1 FROM workspaces WHERE org_id = 'org-bad'`)).rowCount).toBe(0);
    expect((await caller.request('workspaces.v1.get', { id: '00000000-0000-4000-8000-000000000000' })).body).toMatchObject({ ok: false, error: { code: 'UNAUTHENTICATED' } });
  });

  it('removes (admin only) by marking removed; a workspace with live children stays', async () => {
    const org = 'org-remove';
    const m = await member(org);
    const a = await admin(org);
    const parent = await ok<Workspace>('create', { name: 'parent' }, m);
    const child = await ok<Workspace>('create', { name: 'child', parentId: parent.id }, m);
    expect(await req('remove', { id: child.id }, m)).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await req('remove', { id: parent.id }, a)).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });
    const before = new Date().toISOString();
    expect(await req('remove', { id: child.id }, a)).toEqual({ ok: true, data: null });
    // removing again is a no-op: the first remover and time stay
    expect(await req('remove', { id: child.id }, await userToken(org, 'bea', { roles: ['admin'] }))).toEqual({ ok: true, data: null });
    const removed = await ok<Workspace>('get', { id: child.id }, m);
    expect(removed).toMatchObject({ status: 'removed', createdBy: 'user:max', removedBy: 'user:ada' });
    expect(removed.removedAt! >= before.slice(0, 23) && removed.removedAt! <= new Date().toISOString()).toBe(true);
    expect(await ok<Workspace>('get', { id: parent.id }, m)).toMatchObject({ status: 'offline', removedBy: null, removedAt: null });
    expect((await ok<{ items: Workspace[] }>('list', {}, m)).items.map((w) => w.id)).toEqual([parent.id]);
    expect((await ok<{ items: Workspace[] }>('list', { status: 'offline' }, m)).items.map((w) => w.id)).toEqual([parent.id]);
    // the removed ones are listed on their own, with who removed each and when, for any member
    expect((await ok<{ items: Workspace[] }>('list', { status: 'removed' }, m)).items).toEqual([removed]);
    expect((await ok<{ items: Workspace[] }>('list', { status: 'removed', parentId: parent.id }, m)).items.map((w) => w.id)).toEqual([child.id]);
    expect((await ok<{ items: Workspace[] }>('list', { status: 'removed' }, await member('org-elsewhere'))).items).toEqual([]);
    // A removed workspace takes no children, heartbeats or plugins, and frees its name.
    // It still reads as removed, so each answers CONFLICT saying so, never NOT_FOUND.
    expect(await req('create', { name: 'x', parentId: child.id }, m)).toMatchObject({
      ok: false,
      error: { code: 'CONFLICT', message: 'parent workspace is removed: it takes no children', details: { field: 'parentId', parentId: child.id, status: 'removed' } },
    });
    expect(await req('heartbeat', { id: child.id }, a)).toMatchObject({
      ok: false,
      error: { code: 'CONFLICT', message: 'workspace is removed', details: { id: child.id, status: 'removed' } },
    });
    const oldRoot = await ok<Workspace>('create', { name: 'old-root' }, m);
    await ok('enable_plugin', { id: oldRoot.id, plugin: 'git' }, a);
    await ok('remove', { id: oldRoot.id }, a);
    for (const [subject, body] of [
      ['list_plugins', { id: oldRoot.id }],
      ['enable_plugin', { id: oldRoot.id, plugin: 'slack' }],
      ['disable_plugin', { id: oldRoot.id, plugin: 'git' }],
    ] as const) {
      expect(await req(subject, body, a)).toMatchObject({ ok: false, error: { code: 'CONFLICT', message: 'workspace is removed: it allows no plugin', details: { id: oldRoot.id, status: 'removed' } } });
      // a member who is not an admin learns no more than before
      expect(await req(subject, body, m)).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    }
    expect(await req('list_plugins', { id: oldRoot.id }, await admin('org-elsewhere'))).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await ok<Workspace>('create', { name: 'child', parentId: parent.id }, m)).toMatchObject({ name: 'child' });
    // the removed ones page by id like the live ones
    const more = [];
    for (const name of ['gone-1', 'gone-2']) {
      const w = await ok<Workspace>('create', { name }, m);
      expect(await req('remove', { id: w.id }, a)).toEqual({ ok: true, data: null });
      more.push(w.id);
    }
    const seen: string[] = [];
    for (let cursor: string | null | undefined, pages = 0; cursor !== null; pages++) {
      expect(pages).toBeLessThan(5);
      const page: { items: Workspace[]; nextCursor: string | null } = await ok('list', { status: 'removed', limit: 1, ...(cursor ? { cursor } : {}) }, m);
      seen.push(...page.items.map((w) => w.id));
      cursor = page.nextCursor;
    }
    expect(seen).toEqual([child.id, oldRoot.id, ...more].sort());
    expect((await ok<{ items: Workspace[] }>('list', {}, m)).items.every((w) => w.status !== 'removed')).toBe(true);
  });

  it('manages the allowlist on roots only, for admins, keeping the first enablement', async () => {
    const org = 'org-plugins';
    const a = await admin(org);
    const root = await ok<Workspace>('create', { name: 'root' }, a);
    const child = await ok<Workspace>('create', { name: 'child', parentId: root.id }, a);
    const first = await ok<{ plugin: string; enabledBy: string; enabledAt: string }>('enable_plugin', { id: root.id, plugin: 'git' }, a);
    expect(first).toMatchObject({ workspaceId: root.id, plugin: 'git', enabledBy: 'user:ada' });
    const again = await ok('enable_plugin', { id: root.id, plugin: 'git' }, await userToken(org, 'eve', { roles: ['admin'] }));
    expect(again).toEqual(first);
    expect(await req('enable_plugin', { id: child.id, plugin: 'git' }, a)).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });
    expect(await req('enable_plugin', { id: root.id, plugin: 'git' }, await member(org))).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await req('enable_plugin', { id: root.id, plugin: '../etc' }, a)).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'plugin' }] } } });
    expect(await ok('list_plugins', { id: root.id }, a)).toEqual({ items: [first] });
    expect(await req('disable_plugin', { id: root.id, plugin: 'git' }, a)).toEqual({ ok: true, data: null });
    expect(await req('disable_plugin', { id: root.id, plugin: 'git' }, a)).toEqual({ ok: true, data: null });
    expect(await ok('list_plugins', { id: root.id }, a)).toEqual({ items: [] });
  });

  it('keeps the audit of the allowlist: each change that took effect, who and when, newest first, past the root', async () => {
    const org = 'org-plugin-audit';
    const ada = await admin(org);
    const eve = await userToken(org, 'eve', { roles: ['admin'] });
    const root = await ok<Workspace>('create', { name: 'root' }, ada);
    // the lines are numbered from 98, across a digit boundary: newest first is by number, not text ("99" > "100")
    await sql.query('ALTER TABLE plugin_changes ALTER COLUMN id RESTART WITH 98');
    const before = new Date().toISOString();
    await ok('enable_plugin', { id: root.id, plugin: 'git' }, ada);
    await ok('enable_plugin', { id: root.id, plugin: 'git' }, eve); // already enabled: no line
    await ok('enable_plugin', { id: root.id, plugin: 'slack' }, eve);
    await ok('disable_plugin', { id: root.id, plugin: 'git' }, ada);
    await ok('disable_plugin', { id: root.id, plugin: 'git' }, eve); // not enabled: no line
    type Change = { workspaceId: string; plugin: string; change: string; changedBy: string; changedAt: string };
    const all = await ok<{ items: Change[]; nextCursor: string | null }>('list_plugin_changes', { id: root.id }, ada);
    expect(all.items.map((c) => [c.workspaceId, c.plugin, c.change, c.changedBy])).toEqual([
      [root.id, 'git', 'disabled', 'user:ada'],
      [root.id, 'slack', 'enabled', 'user:eve'],
      [root.id, 'git', 'enabled', 'user:ada'],
    ]);
    expect(all.nextCursor).toBeNull();
    expect(all).toMatchObject({ keptSince: null }); // PLUGIN_HISTORY_RETENTION_HOURS unset: every line is kept
    expect(all.items.every((c) => c.changedAt >= before.slice(0, 23) && c.changedAt <= new Date().toISOString())).toBe(true);
    // keyset pages, each line once
    const first = await ok<{ items: Change[]; nextCursor: string | null }>('list_plugin_changes', { id: root.id, limit: 2 }, ada);
    expect(first.nextCursor).toMatch(/^[0-9]+$/);
    const rest = await ok<{ items: Change[]; nextCursor: string | null }>('list_plugin_changes', { id: root.id, limit: 2, cursor: first.nextCursor }, ada);
    expect([...first.items, ...rest.items]).toEqual(all.items);
    expect(rest.nextCursor).toBeNull();
    // refused: a bad cursor (naming it), a member, another org
    for (const cursor of ['x', '0', '9999999999999999999']) {
      expect(await req('list_plugin_changes', { id: root.id, cursor }, ada)).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'cursor' }] } } });
    }
    expect(await req('list_plugin_changes', { id: root.id }, await member(org))).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await req('list_plugin_changes', { id: root.id }, await admin('org-elsewhere'))).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    // eight concurrent enables of one plugin are one enablement and one line
    await Promise.all(Array.from({ length: 8 }, (_, i) => ok('enable_plugin', { id: root.id, plugin: 'jira' }, i % 2 ? ada : eve)));
    const jira = await sql.query(`SELECT count(*)::int AS n FROM plugin_changes WHERE root_workspace_id = $1 AND plugin = 'jira'`, [root.id]);
    expect(jira.rows[0].n).toBe(1);
    await ok('disable_plugin', { id: root.id, plugin: 'jira' }, ada);
    // removing the root disables what it allowed, by the remover; its history outlives it
    await ok('remove', { id: root.id }, eve);
    const after = await ok<{ items: Change[] }>('list_plugin_changes', { id: root.id }, ada);
    expect(after.items.map((c) => [c.plugin, c.change, c.changedBy])).toEqual([
      ['slack', 'disabled', 'user:eve'],
      ['jira', 'disabled', 'user:ada'],
      ['jira', 'enabled', expect.stringMatching(/^user:(ada|eve)$/)],
      ['git', 'disabled', 'user:ada'],
      ['slack', 'enabled', 'user:eve'],
      ['git', 'enabled', 'user:ada'],
    ]);
  });

  /** The root's lines for `plugin`, oldest first, and whether the allowlist holds it now. */
  async function pluginAudit(rootId: string, plugin: string): Promise<{ lines: Array<{ change: string; changed_by: string; changed_at: Date }>; row: unknown }> {
    const lines = await sql.query(`SELECT change, changed_by, changed_at FROM plugin_changes WHERE root_workspace_id = $1 AND plugin = $2 ORDER BY id`, [rootId, plugin]);
    const rows = await sql.query(`SELECT enabled_by, enabled_at FROM org_plugin_allowlist WHERE root_workspace_id = $1 AND plugin = $2`, [rootId, plugin]);
    return { lines: lines.rows, row: rows.rows[0] ?? null };
  }
  /** Each line a change that took effect (enabled, disabled, … alternating), the last one the row as it is now. */
  function expectAuditMatchesState({ lines, row }: Awaited<ReturnType<typeof pluginAudit>>): void {
    lines.forEach((l, i) => expect([i, l.change]).toEqual([i, i % 2 === 0 ? 'enabled' : 'disabled']));
    const last = lines[lines.length - 1];
    if (last?.change !== 'enabled') return expect(row).toBeNull();
    // the row is the last enablement's (enabled_at is its transaction's start, changed_at when it wrote the line)
    expect(row).toEqual({ enabled_by: last.changed_by, enabled_at: expect.any(Date) });
    expect((row as { enabled_at: Date }).enabled_at <= last.changed_at).toBe(true);
  }

  it('an enable of an enabled plugin keeps its row from a disable until it commits (never INTERNAL)', async () => {
    const org = 'org-plugin-interleave';
    const a = await admin(org);
    const root = await ok<Workspace>('create', { name: 'root' }, a);
    const first = await ok<{ enabledAt: string }>('enable_plugin', { id: root.id, plugin: 'git' }, a);
    // Pause every allowlist INSERT statement at its end, before the enable reads its row back, on a lock we hold.
    const hold = 774_411;
    await sql.query(`CREATE FUNCTION zz_pause() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_advisory_xact_lock_shared(${hold}); RETURN NULL; END $$`);
    await sql.query(`CREATE TRIGGER zz_pause AFTER INSERT ON org_plugin_allowlist FOR EACH STATEMENT EXECUTE FUNCTION zz_pause()`);
    await sql.query('SELECT pg_advisory_lock($1)', [hold]);
    try {
      const enable = req('enable_plugin', { id: root.id, plugin: 'git' }, a);
      await waitForLockWait(sql, /INSERT INTO org_plugin_allowlist/);
      const disable = req('disable_plugin', { id: root.id, plugin: 'git' }, a);
      // it waits for the enable's row lock (else it deletes and commits here, and the enable reads back nothing)
      const meanwhile = await stateAfter(disable, 1_000);
      await sql.query('SELECT pg_advisory_unlock($1)', [hold]);
      expect(await enable).toMatchObject({ ok: true, data: { plugin: 'git', enabledBy: 'user:ada', enabledAt: first.enabledAt } });
      expect(await disable).toEqual({ ok: true, data: null });
      expect(meanwhile).toBe('pending');
    } finally {
      await sql.query('SELECT pg_advisory_unlock_all()');
      await sql.query('DROP TRIGGER IF EXISTS zz_pause ON org_plugin_allowlist');
      await sql.query('DROP FUNCTION IF EXISTS zz_pause()');
    }
    const audit = await pluginAudit(root.id, 'git');
    expect(audit.lines.map((l) => l.change)).toEqual(['enabled', 'disabled']);
    expectAuditMatchesState(audit);
  });

  it('concurrent enables and disables of one plugin never answer INTERNAL, and the audit ends at the allowlist', async () => {
    const org = 'org-plugin-race';
    const admins = await Promise.all(Array.from({ length: 8 }, (_, i) => userToken(org, `admin-${i}`, { roles: ['admin'] })));
    const root = await ok<Workspace>('create', { name: 'root' }, admins[0]!);
    const codes: Record<string, number> = {};
    for (let round = 0; round < 40; round++) {
      const replies = await Promise.all(
        admins.map((a, i) => req(i % 2 === 0 ? 'enable_plugin' : 'disable_plugin', { id: root.id, plugin: 'git' }, a)),
      );
      for (const r of replies) codes[r.ok ? 'ok' : r.error!.code] = (codes[r.ok ? 'ok' : r.error!.code] ?? 0) + 1;
    }
    expect(codes).toEqual({ ok: 320 });
    expectAuditMatchesState(await pluginAudit(root.id, 'git'));
  }, 120_000);

  it('forgets plugin changes past PLUGIN_HISTORY_RETENTION_HOURS from its start, oldest first, and says since when it keeps them', async () => {
    const org = 'org-plugin-retention';
    const ada = await admin(org);
    const root = await ok<Workspace>('create', { name: 'root' }, ada);
    for (const plugin of ['git', 'slack', 'jira']) await ok('enable_plugin', { id: root.id, plugin }, ada);
    // git's line is a year old, slack's 25 days (within 720 hours); jira's is today
    await sql.query(`UPDATE plugin_changes SET changed_at = now() - CASE plugin WHEN 'git' THEN interval '8760 hours' ELSE interval '600 hours' END
      WHERE root_workspace_id = $1 AND plugin <> 'jira'`, [root.id]);
    expect(await svc.app.get(WorkspacesRepository).prunePluginChanges(0)).toBe(0); // 0 keeps every line

    const prefix2 = testPrefix('ws_plugin_retention');
    const other = await startInstaller(db, prefix2, { HEARTBEAT_SWEEPER: 'off', OUTBOX_RELAY: 'off', PLUGIN_HISTORY_RETENTION_HOURS: '720' });
    const caller2 = await NatsCaller.connect(prefix2);
    try {
      const lines = async () => (await sql.query<{ plugin: string }>('SELECT plugin FROM plugin_changes WHERE root_workspace_id = $1 ORDER BY id', [root.id])).rows.map((r) => r.plugin);
      const deadline = Date.now() + 10_000;
      while ((await lines()).includes('git') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await lines()).toEqual(['slack', 'jira']);
      const before = Date.now();
      const reply = (await caller2.request('workspaces.v1.list_plugin_changes', { id: root.id }, { token: ada })).body;
      if (!reply.ok) throw new Error(JSON.stringify(reply.error));
      const page = reply.data as { items: Array<{ plugin: string }>; keptSince: string };
      expect(page.items.map((c) => c.plugin)).toEqual(['jira', 'slack']);
      expect(Date.parse(page.keptSince)).toBeGreaterThanOrEqual(before - 720 * 3_600_000 - 1_000);
      expect(Date.parse(page.keptSince)).toBeLessThanOrEqual(Date.now() - 720 * 3_600_000);
      // the allowlist itself is untouched: only the audit's old lines went
      expect((await ok<{ items: Array<{ plugin: string }> }>('list_plugins', { id: root.id }, ada)).items.map((p) => p.plugin).sort()).toEqual(['git', 'jira', 'slack']);
    } finally {
      await caller2.close();
      await other.close();
    }
  });

  it('shows a new platform agent offline, online after a heartbeat, offline again after the silence window', async () => {
    const org = 'org-beat';
    const a = await admin(org);
    const { platformAgentId } = await ok<{ platformAgentId: string }>('install_platform_agent', {}, a);
    expect(await ok<Workspace>('get', { id: platformAgentId }, a)).toMatchObject({ kind: 'platform', status: 'offline', lastHeartbeatAt: null });

    // Its own service account (sub = workspace id) or an admin may beat; nobody else.
    const agent = await serviceAccountToken(org, platformAgentId);
    expect(await req('heartbeat', { id: platformAgentId }, await member(org))).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await req('heartbeat', { id: platformAgentId }, await serviceAccountToken(org, 'someone-else'))).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await req('heartbeat', { id: platformAgentId }, await serviceAccountToken('org-elsewhere', platformAgentId))).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });

    const beat = await ok<Workspace>('heartbeat', { id: platformAgentId }, agent);
    expect(beat).toMatchObject({ status: 'online' });
    expect(beat.lastHeartbeatAt).not.toBeNull();
    expect(await ok<Workspace>('get', { id: platformAgentId }, await member(org))).toMatchObject({ status: 'online', lastHeartbeatAt: beat.lastHeartbeatAt });
    expect((await ok<{ items: Workspace[] }>('list', { status: 'online' }, a)).items.map((w) => w.id)).toEqual([platformAgentId]);
    expect((await ok<{ items: Workspace[] }>('list', { status: 'offline' }, a)).items).toEqual([]);
    expect(await ok<Workspace>('heartbeat', { id: platformAgentId }, a)).toMatchObject({ status: 'online' });

    await new Promise((r) => setTimeout(r, SILENCE_SECONDS * 1000 + 300));
    // Honest before the sweeper runs: the row still says online, the read does not.
    expect((await sql.query(`SELECT status FROM workspaces WHERE id = $1`, [platformAgentId])).rows[0].status).toBe('online');
    const silent = await ok<Workspace>('get', { id: platformAgentId }, a);
    expect(silent).toMatchObject({ status: 'offline' });
    expect(silent.lastHeartbeatAt).not.toBeNull();
    expect((await ok<{ items: Workspace[] }>('list', {}, a)).items.find((w) => w.id === platformAgentId)).toMatchObject({ status: 'offline' });
    // a status filter reads the status as it is now, not the row's
    expect((await ok<{ items: Workspace[] }>('list', { status: 'online' }, a)).items).toEqual([]);
    expect((await ok<{ items: Workspace[] }>('list', { status: 'offline' }, a)).items.map((w) => w.id)).toEqual([platformAgentId]);

    expect(await svc.app.get(HeartbeatSweeper).sweepOnce()).toBeGreaterThanOrEqual(1);
    expect((await sql.query(`SELECT status FROM workspaces WHERE id = $1`, [platformAgentId])).rows[0].status).toBe('offline');
    expect(await ok<Workspace>('heartbeat', { id: platformAgentId }, agent)).toMatchObject({ status: 'online' });
    // A re-install keeps the live status.
    expect(await ok('install_platform_agent', {}, a)).toMatchObject({ reparented: 0 });
    expect(await ok<Workspace>('get', { id: platformAgentId }, a)).toMatchObject({ status: 'online' });
  });

  it('stamps a heartbeat that waited behind a later write of its row after that write, never back in time', async () => {
    const org = 'org-beat-wait';
    const a = await admin(org);
    const w = await ok<Workspace>('create', { name: 'w' }, a);
    // its own connection: pg_stat_activity reads the same snapshot for a whole transaction
    const holder = await sqlClient(db);
    let beat: Promise<RawReply['body']> | undefined;
    let later = '';
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE', [w.id]);
      beat = req('heartbeat', { id: w.id }, a);
      await waitForLockWait(sql, /UPDATE workspaces SET status = 'online'/);
      await new Promise((r) => setTimeout(r, 50));
      // a later beat writes the row first
      const stamped = await holder.query<{ at: string }>(
        `UPDATE workspaces SET status = 'online', last_heartbeat_at = clock_timestamp() WHERE id = $1 RETURNING last_heartbeat_at::text AS at`,
        [w.id],
      );
      later = stamped.rows[0]!.at;
      await holder.query('COMMIT');
    } finally {
      await holder.end();
      await beat?.catch(() => undefined);
    }
    expect(await beat).toMatchObject({ ok: true, data: { status: 'online' } });
    const stored = await sql.query(`SELECT last_heartbeat_at > $2::timestamptz AS after FROM workspaces WHERE id = $1`, [w.id, later]);
    expect(stored.rows[0].after).toBe(true);
  });

  it('runs a mutating call once per idempotency key: a retry replays the response, another payload is a mismatch', async () => {
    const org = 'org-idem';
    const a = await admin(org);
    const first = await caller.request('workspaces.v1.create', { name: 'once' }, { token: a, idempotencyKey: 'create-once' });
    const retry = await caller.request('workspaces.v1.create', { name: 'once' }, { token: a, idempotencyKey: 'create-once' });
    expect(first.body.ok).toBe(true);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    const other = await caller.request('workspaces.v1.create', { name: 'twice' }, { token: a, idempotencyKey: 'create-once' });
    expect(other.body).toMatchObject({ ok: false, error: { code: 'IDEMPOTENCY_MISMATCH' } });
    expect((await sql.query(`SELECT 1 FROM workspaces WHERE org_id = $1`, [org])).rowCount).toBe(1);

    const install = await caller.request('workspaces.v1.install_platform_agent', {}, { token: a, idempotencyKey: 'install-1' });
    const again = await caller.request('workspaces.v1.install_platform_agent', {}, { token: a, idempotencyKey: 'install-1' });
    expect(install.body).toMatchObject({ ok: true, data: { reparented: 1 } });
    expect(again.body).toEqual(install.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
  });

  it('writes authz registrations into the outbox with the change', async () => {
    const org = 'org-outbox';
    const w = await ok<Workspace>('create', { name: 'registered' }, await member(org));
    const rows = await sql.query(`SELECT subject, payload FROM outbox WHERE payload->>'resource' = $1`, [`workspace:${w.id}`]);
    expect(rows.rows).toEqual([{ subject: 'events.workspaces.resource_registered', payload: { resource: `workspace:${w.id}`, tenant: org, owner: 'user:max' } }]);
    await ok('remove', { id: w.id }, await admin(org));
    const after = await sql.query(`SELECT subject FROM outbox WHERE payload->>'resource' = $1 ORDER BY created_at`, [`workspace:${w.id}`]);
    expect(after.rows.map((r) => r.subject)).toEqual(['events.workspaces.resource_registered', 'events.workspaces.resource_deregistered']);
  });
});
