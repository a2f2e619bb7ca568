import pg from 'pg';
import { MetricsRegistry } from '@agentplane/observability';
import type { TestDatabase } from '@agentplane/persistence';
import { NatsCaller, serviceAccountToken, testPrefix, userToken, withClockOffset, type RawReply, type RunningService } from '@agentplane/testing';
import { digest, registryDatabase, release, startRegistry } from './setup.js';

// reply bodies are asserted field by field
type Data = any;

describe('hook releases, live pointer, runs and provenance over NATS', () => {
  let db: TestDatabase;
  let sql: pg.Client;
  let svc: RunningService;
  let caller: NatsCaller;
  const prefix = testPrefix('hooks_rel');
  let admin: string;
  let ci: string;
  let alice: string;

  const ok = (r: RawReply): Data => {
    if (!r.body.ok) throw new Error(`expected ok, got ${JSON.stringify(r.body.error)}`);
    return r.body.data;
  };
  const rpc = (subject: string, body: unknown, token: string, idempotencyKey?: string) =>
    caller.request(`hooks.v1.${subject}`, body, { token, idempotencyKey, timeoutMs: 20_000 });

  beforeAll(async () => {
    db = await registryDatabase();
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    svc = await startRegistry(db, prefix);
    caller = await NatsCaller.connect(prefix);
    admin = await userToken('acme', 'root', { roles: ['admin'] });
    ci = await serviceAccountToken('acme', 'ci-bot', { scopes: ['hooks:write'] });
    alice = await userToken('acme', 'alice', { scopes: ['hooks:write'] });
    ok(await rpc('deploy_convention', { slug: 'sales', schema: { type: 'object' }, hooks: [{ name: 'enrich', feature: 'leads.v1', release: release('r1') }] }, admin));
    for (const l of ['r2', 'r3']) ok(await rpc('create_release', { name: 'enrich', ...release(l) }, ci));
  });

  afterAll(async () => {
    await caller?.close();
    await svc?.close();
    await sql?.end();
    await db?.drop();
  });

  it('mints exactly N+1..N+12 for 12 concurrent releases with distinct digests, the last one live', async () => {
    const n = ok(await rpc('get', { name: 'enrich' }, alice)).liveVersion as number;
    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => rpc('create_release', { name: 'enrich', ...release(`c${i}`) }, ci)));
    const versions = replies.map((r) => ok(r)).map((d) => (expect(d.created).toBe(true), d.release.version as number));
    expect(versions.sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => n + 1 + i));
    const all = await sql.query(`SELECT version FROM hook_releases r JOIN hooks h ON h.id = r.hook_id WHERE h.name = 'enrich' ORDER BY version`);
    expect(all.rows.map((r) => r.version)).toEqual(Array.from({ length: n + 12 }, (_, i) => i + 1));
    expect(ok(await rpc('get', { name: 'enrich' }, alice)).liveVersion).toBe(n + 12);
  });

  it('mints one version for 12 concurrent releases of one digest: one created, eleven the same release', async () => {
    const before = ok(await rpc('get', { name: 'enrich' }, alice)).liveVersion as number;
    const replies = await Promise.all(Array.from({ length: 12 }, () => rpc('create_release', { name: 'enrich', ...release('same') }, ci)));
    const data = replies.map(ok);
    expect(data.filter((d) => d.created)).toHaveLength(1);
    expect(data.filter((d) => !d.created)).toHaveLength(11);
    expect(new Set(data.map((d) => d.release.id)).size).toBe(1);
    expect(data[0].release).toMatchObject({ version: before + 1, digest: digest('same'), builtBy: 'service_account:ci-bot' });
    const count = await sql.query(`SELECT count(*)::int AS n FROM hook_releases WHERE digest = $1`, [digest('same')]);
    expect(count.rows[0].n).toBe(1);
    // An old digest again: that release, nothing minted, the live pointer stays.
    const old = ok(await rpc('create_release', { name: 'enrich', ...release('r2') }, ci));
    expect(old).toMatchObject({ created: false, release: { version: 2 } });
    expect(ok(await rpc('get', { name: 'enrich' }, alice)).liveVersion).toBe(before + 1);
  });

  it('snapshots the live release at run start: rollback then run → the rolled-back version; moving live mid-run changes nothing', async () => {
    const live = ok(await rpc('get', { name: 'enrich' }, alice));
    const runA = ok(await rpc('start_run', { name: 'enrich' }, ci));
    expect(runA.release.version).toBe(live.liveVersion);

    const rolled = ok(await rpc('set_live', { name: 'enrich', version: 2 }, alice));
    expect(rolled.liveVersion).toBe(2);
    const runB = ok(await rpc('start_run', { name: 'enrich' }, ci));
    expect(runB.release).toMatchObject({ version: 2, digest: digest('r2'), config: { label: 'r2' }, sourceRef: 'git:r2' });

    const outA = ok(await rpc('add_outputs', { runId: runA.runId, rows: [{ lead: 1 }, { lead: 2 }] }, ci)).ids as string[];
    const outB = ok(await rpc('add_outputs', { runId: runB.runId, rows: [{ lead: 3 }] }, ci)).ids as string[];
    expect(outA).toHaveLength(2);

    const provA = ok(await rpc('get_provenance', { id: outA[1] }, alice));
    expect(provA.output).toMatchObject({ id: outA[1], runId: runA.runId, payload: { lead: 2 } });
    expect(provA.run).toMatchObject({ id: runA.runId, version: live.liveVersion, status: 'running' });
    expect(provA.release).toMatchObject({ version: live.liveVersion, digest: runA.release.digest, builtBy: 'service_account:ci-bot' });
    expect(provA.hook).toMatchObject({ name: 'enrich', feature: 'leads.v1', liveVersion: 2 });
    const provB = ok(await rpc('get_provenance', { id: outB[0] }, alice));
    expect(provB.release).toMatchObject({ version: 2, digest: digest('r2'), config: { label: 'r2' }, sourceRef: 'git:r2' });

    const finished = ok(await rpc('finish_run', { id: runA.runId, status: 'failed', oomRetries: 2 }, ci));
    expect(finished).toMatchObject({ status: 'failed', oomRetries: 2, version: live.liveVersion });
    expect(finished.durationMs).toBeGreaterThanOrEqual(0);
    expect(finished.finishedAt).not.toBeNull();
    const again = await rpc('finish_run', { id: runA.runId, status: 'succeeded' }, ci);
    // what was recorded, so a finish retried after a lost answer can tell whether it is its own
    expect(again.body).toEqual({
      ok: false,
      error: { code: 'CONFLICT', message: 'run already finished (failed)', details: { status: 'failed', oomRetries: 2, finishedAt: finished.finishedAt } },
    });
    const late = await rpc('add_outputs', { runId: runA.runId, rows: [{ lead: 9 }] }, ci);
    expect(late.body).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });
    // Finishing did not touch the snapshot.
    expect(ok(await rpc('get_provenance', { id: outA[0] }, alice)).run).toMatchObject({ status: 'failed', oomRetries: 2, releaseId: runA.release.id });
  });

  it('audits every move of the live pointer: who, from which version to which, when; an unknown version is NOT_FOUND', async () => {
    const before = Date.now();
    expect(ok(await rpc('set_live', { name: 'enrich', version: 3 }, ci))).toMatchObject({ liveVersion: 3, changed: true });
    // to the version live already: the same hook, `changed: false`, and no change recorded
    const again = ok(await rpc('set_live', { name: 'enrich', version: 3 }, alice));
    expect(again).toMatchObject({ liveVersion: 3, changed: false });
    const missing = await rpc('set_live', { name: 'enrich', version: 999 }, ci);
    expect(missing.body).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    const page1 = ok(await rpc('list_live_changes', { name: 'enrich', limit: 2 }, alice));
    expect(page1.items[0]).toMatchObject({ hookName: 'enrich', fromVersion: 2, toVersion: 3, reason: 'set_live', changedBy: 'service_account:ci-bot' });
    expect(Date.parse(page1.items[0].changedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(page1.items[1]).toMatchObject({ toVersion: 2, reason: 'set_live', changedBy: 'user:alice' });
    const rest = ok(await rpc('list_live_changes', { name: 'enrich', limit: 100, cursor: page1.nextCursor }, alice));
    const all = [...page1.items, ...rest.items];
    expect(rest.nextCursor).toBeNull();
    expect(all[all.length - 1]).toMatchObject({ fromVersion: null, toVersion: 1, reason: 'deploy', changedBy: 'user:root' });
    expect(all.filter((c) => c.reason === 'release')).toHaveLength(2 + 12 + 1);
  });

  it('lists releases newest first with a cursor, and reads one by version', async () => {
    const p1 = ok(await rpc('list_releases', { name: 'enrich', limit: 5 }, alice));
    expect(p1.items.map((r: Data) => r.version)).toEqual([16, 15, 14, 13, 12]);
    const p2 = ok(await rpc('list_releases', { name: 'enrich', limit: 5, cursor: p1.nextCursor }, alice));
    expect(p2.items[0].version).toBe(11);
    expect(ok(await rpc('get_release', { name: 'enrich', version: 1 }, alice))).toMatchObject({ version: 1, digest: digest('r1'), builtBy: 'user:root' });
    const list = ok(await rpc('list', {}, alice));
    expect(list.items).toEqual([expect.objectContaining({ name: 'enrich', liveVersion: 3 })]);
  });

  it('hides another tenant\'s hook, releases, runs and outputs (NOT_FOUND)', async () => {
    const other = await userToken('globex', 'bob', { scopes: ['hooks:write'] });
    const [output] = (await sql.query('SELECT id::text FROM outputs LIMIT 1')).rows;
    const [run] = (await sql.query(`SELECT id::text FROM hook_runs WHERE status = 'running' LIMIT 1`)).rows;
    const cases: Array<[string, unknown]> = [
      ['get', { name: 'enrich' }],
      ['list_releases', { name: 'enrich' }],
      ['get_release', { name: 'enrich', version: 1 }],
      ['create_release', { name: 'enrich', ...release('x') }],
      ['set_live', { name: 'enrich', version: 1 }],
      ['start_run', { name: 'enrich' }],
      ['finish_run', { id: run.id, status: 'succeeded' }],
      ['add_outputs', { runId: run.id, rows: [{}] }],
      ['get_provenance', { id: output.id }],
      ['list_live_changes', { name: 'enrich' }],
      ['get_convention', { slug: 'sales' }],
    ];
    for (const [subject, body] of cases) {
      const r = await rpc(subject, body, other);
      expect({ subject, code: r.body.error?.code }).toEqual({ subject, code: 'NOT_FOUND' });
    }
    expect(ok(await rpc('list', {}, other)).items).toEqual([]);
  });

  it('gates mutations by scope and rejects bad input with the field path', async () => {
    const reader = await userToken('acme', 'reader');
    for (const [subject, body] of [
      ['create_release', { name: 'enrich', ...release('y') }],
      ['set_live', { name: 'enrich', version: 1 }],
      ['start_run', { name: 'enrich' }],
      ['deploy_convention', { slug: 's', schema: {}, hooks: [{ name: 'z', feature: 'f', release: release('z') }] }],
    ] as const) {
      const r = await rpc(subject, body, reader);
      expect({ subject, code: r.body.error?.code }).toEqual({ subject, code: 'FORBIDDEN' });
    }
    const deployWithHooksWrite = await rpc('deploy_convention', { slug: 's', schema: {}, hooks: [{ name: 'z', feature: 'f', release: release('z') }] }, ci);
    expect(deployWithHooksWrite.body).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    const bad = await rpc('create_release', { name: 'enrich', image: 'i', digest: 'latest' }, ci);
    expect(bad.body).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'digest' }] } } });
    const none = await rpc('create_release', { name: 'enrich', ...release('y') }, '');
    expect(none.body).toMatchObject({ ok: false, error: { code: 'UNAUTHENTICATED' } });
  });

  it('has no update or delete path for a release: no such subject, and the database refuses UPDATE, DELETE and TRUNCATE', async () => {
    for (const subject of ['update_release', 'delete_release', 'patch_release', 'set_release']) {
      await expect(rpc(subject, { name: 'enrich', version: 1, digest: digest('evil') }, admin)).rejects.toThrow(/no responders|503|timeout/i);
    }
    await expect(sql.query(`UPDATE hook_releases SET digest = $1 WHERE version = 1`, [digest('evil')])).rejects.toThrow(/append-only: UPDATE/);
    await expect(sql.query(`DELETE FROM hook_releases WHERE version = 1`)).rejects.toThrow(/append-only: DELETE/);
    await expect(sql.query(`TRUNCATE hook_releases CASCADE`)).rejects.toThrow(/append-only: TRUNCATE/);
    await expect(sql.query(`UPDATE hooks SET feature = 'other'`)).rejects.toThrow(/only live_release_id may change/);
    await expect(sql.query(`DELETE FROM live_changes`)).rejects.toThrow(/append-only/);
    await expect(sql.query(`UPDATE outputs SET payload = '{}'`)).rejects.toThrow(/append-only/);
    await expect(sql.query(`UPDATE hook_runs SET release_id = release_id WHERE status <> 'running'`)).rejects.toThrow(/finished once/);
    const r1 = ok(await rpc('get_release', { name: 'enrich', version: 1 }, alice));
    expect(r1.digest).toBe(digest('r1'));
  });

  it('replays a release under the same Idempotency-Key, and refuses the key with another payload', async () => {
    const first = await rpc('create_release', { name: 'enrich', ...release('idem') }, ci, 'rel-key-1');
    const retry = await rpc('create_release', { name: 'enrich', ...release('idem') }, ci, 'rel-key-1');
    expect(retry.body).toEqual(first.body);
    expect(ok(first).created).toBe(true);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    const other = await rpc('create_release', { name: 'enrich', ...release('idem2') }, ci, 'rel-key-1');
    expect(other.body).toMatchObject({ ok: false, error: { code: 'IDEMPOTENCY_MISMATCH' } });
  });

  it('registers hooks, releases and runs with authz through the outbox, and the relay publishes them', async () => {
    const rows = await sql.query<{ subject: string; payload: { resource: string; parent?: string; owner?: string; tenant: string } }>(
      `SELECT subject, payload FROM outbox ORDER BY created_at`,
    );
    expect(new Set(rows.rows.map((r) => r.subject))).toEqual(new Set(['events.hook-registry.resource_registered']));
    const byType = (t: string) => rows.rows.filter((r) => r.payload.resource.startsWith(`${t}:`));
    expect(byType('hook')).toHaveLength(1);
    expect(byType('release').length).toBe(Number((await sql.query('SELECT count(*) FROM hook_releases')).rows[0].count));
    expect(byType('run').length).toBe(Number((await sql.query('SELECT count(*) FROM hook_runs')).rows[0].count));
    expect(byType('release')[0]!.payload).toMatchObject({ tenant: 'acme', owner: 'user:root', parent: expect.stringMatching(/^hook:/) });
    expect(byType('run')[0]!.payload).toMatchObject({ owner: 'service_account:ci-bot', parent: expect.stringMatching(/^release:/) });
    const deadline = Date.now() + 10_000;
    let pending = 1;
    while (Date.now() < deadline && pending > 0) {
      pending = Number((await sql.query('SELECT count(*) FROM outbox WHERE published_at IS NULL')).rows[0].count);
      if (pending > 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(pending).toBe(0);
  });

  it('answers a tampered cursor of each list VALIDATION at cursor, never INTERNAL; a cursor of the list\'s form pages', async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');
    const id = '0194b3a0-1c2d-7e3f-8a4b-5c6d7e8f9a0b';
    const tampered: Array<[string, object, unknown]> = [
      // the first six were INTERNAL: PostgreSQL (22021, 22008, 22009) or Prisma (1e300, an id no UUID) refused them
      ['list', {}, ['\u0000']],
      ['list_releases', { name: 'enrich' }, [1e300]],
      ['list_live_changes', { name: 'enrich' }, ['2026-01-01T00:00:00Z', 'x']],
      ['list_live_changes', { name: 'enrich' }, ['2026-01-01T00:00:00.000Z', '------------------------------------']],
      ['list_live_changes', { name: 'enrich' }, ['0000-06-01T00:00:00Z', id]],
      ['list_live_changes', { name: 'enrich' }, ['-100000-01-01T00:00:00Z', id]],
      // no list gives these either (the first two paged)
      ['list', {}, ['has space']],
      ['list_releases', { name: 'enrich' }, [0]],
      ['list_releases', { name: 'enrich' }, ['7']],
    ];
    for (const [list, body, v] of tampered) {
      const res = await rpc(list, { ...body, cursor: b64(v) }, alice);
      expect({ list, v, body: res.body }).toEqual({
        list,
        v,
        body: { ok: false, error: { code: 'VALIDATION', message: 'cursor is not one this list returned', details: { issues: [{ path: 'cursor', message: 'invalid cursor' }] } } },
      });
    }
    // a cursor of each list's form pages: hooks after a name, releases before a version, changes before a time
    const initech = await userToken('initech', 'root', { roles: ['admin'] });
    const hooks = ['h-a', 'h-b', 'h-c'].map((name) => ({ name, feature: 'f.v1', release: release(name) }));
    ok(await rpc('deploy_convention', { slug: 'paged', schema: { type: 'object' }, hooks }, initech));
    const first = ok(await rpc('list', { limit: 2 }, initech));
    const second = ok(await rpc('list', { limit: 2, cursor: first.nextCursor }, initech));
    expect([...first.items, ...second.items].map((h: Data) => h.name)).toEqual(['h-a', 'h-b', 'h-c']);
    expect(second.nextCursor).toBeNull();
    expect(ok(await rpc('list_releases', { name: 'enrich', cursor: b64([3]) }, alice)).items.map((r: Data) => r.version)).toEqual([2, 1]);
    const releases = ok(await rpc('list_releases', { name: 'enrich' }, alice)).items;
    expect(ok(await rpc('list_releases', { name: 'enrich', cursor: b64([2_147_483_647]) }, alice)).items).toEqual(releases);
    expect(ok(await rpc('list_live_changes', { name: 'enrich', cursor: b64(['0001-01-01T00:00:00.000Z', id]) }, alice)).items).toEqual([]);
    expect(ok(await rpc('list_live_changes', { name: 'enrich', cursor: b64(['9999-12-31T23:59:59.999Z', id]) }, alice)).items.length).toBeGreaterThan(0);
  });

  describe('the order of a hook\'s live changes (another tenant, so the hooks above stay as they are)', () => {
    const umbra = { admin: '', ci: '', alice: '' };
    beforeAll(async () => {
      umbra.admin = await userToken('umbra', 'root', { roles: ['admin'] });
      umbra.ci = await serviceAccountToken('umbra', 'ci-bot', { scopes: ['hooks:write'] });
      umbra.alice = await userToken('umbra', 'alice', { scopes: ['hooks:write'] });
    });

    it('lists a hook\'s live changes in the order they took effect, even when a deploy that began first moved the pointer last', async () => {
      const hook = (name: string, label: string) => ({ name, feature: `${name}.v1`, release: release(label) });
      ok(await rpc('deploy_convention', { slug: 'ordered', schema: {}, hooks: [hook('order-g', 'g1'), hook('order-h', 'h1')] }, umbra.admin));
      ok(await rpc('create_release', { name: 'order-h', ...release('h2') }, umbra.ci)); // h: 1 → 2
      // Another session holds hook g: the deploy below begins, and waits there (it locks its hooks in name order).
      const holder = new pg.Client({ connectionString: db.url });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query(`SELECT 1 FROM hooks WHERE tenant_id = 'umbra' AND name = 'order-g' FOR UPDATE`);
        const deploy = rpc('deploy_convention', { slug: 'ordered', schema: {}, hooks: [hook('order-g', 'g2'), hook('order-h', 'h3')] }, umbra.admin);
        const waiting = async () => (await sql.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0].n as number;
        for (let i = 0; (await waiting()) === 0; i++) {
          if (i > 200) throw new Error('the deploy never waited on hook g');
          await new Promise((r) => setTimeout(r, 25));
        }
        // after the deploy began and before it reaches h, the pointer moves: h 2 → 1
        ok(await rpc('set_live', { name: 'order-h', version: 1 }, umbra.ci));
        await holder.query('COMMIT');
        ok(await deploy); // h 1 → 3, last
      } finally {
        await holder.end();
      }
      const page = ok(await rpc('list_live_changes', { name: 'order-h' }, umbra.alice));
      // newest first, each move from where the one before it left the pointer, the first the one that holds now
      expect(page.items.map((c: Data) => [c.fromVersion, c.toVersion, c.reason])).toEqual([
        [1, 3, 'deploy'],
        [2, 1, 'set_live'],
        [1, 2, 'release'],
        [null, 1, 'deploy'],
      ]);
      expect(ok(await rpc('get', { name: 'order-h' }, umbra.alice)).liveVersion).toBe(3);
    });

    it('pages live changes of one millisecond each once, in order: the cursor holds changed_at to the microsecond', async () => {
      ok(await rpc('deploy_convention', { slug: 'micro', schema: {}, hooks: [{ name: 'micro-m', feature: 'micro.v1', release: release('m1') }] }, umbra.admin));
      const hookId = (await sql.query(`SELECT id FROM hooks WHERE tenant_id = 'umbra' AND name = 'micro-m'`)).rows[0].id as string;
      // older than the deploy's change, four in one millisecond (two at one microsecond, id DESC between them)
      const at = (us: string) => `2000-01-01T00:00:00.${us}Z`;
      const inserted: Array<[string, string]> = [
        ['00000000-0000-4000-8000-000000000001', at('000100')],
        ['00000000-0000-4000-8000-000000000002', at('000500')],
        ['00000000-0000-4000-8000-000000000003', at('000500')],
        ['00000000-0000-4000-8000-000000000004', at('000700')],
        ['00000000-0000-4000-8000-000000000005', '1999-12-31T23:59:59.999900Z'],
      ];
      for (const [id, changedAt] of inserted) {
        await sql.query(
          `INSERT INTO live_changes (id, tenant_id, hook_id, from_version, to_version, reason, changed_by, changed_at)
           VALUES ($1, 'umbra', $2, 1, 1, 'set_live', 'user:alice', $3::timestamptz)`,
          [id, hookId, changedAt],
        );
      }
      const deployId = ok(await rpc('list_live_changes', { name: 'micro-m', limit: 1 }, umbra.alice)).items[0].id as string;
      const expected = [deployId, ...['4', '3', '2', '1', '5'].map((n) => `00000000-0000-4000-8000-00000000000${n}`)];
      for (const limit of [1, 2]) {
        const ids: string[] = [];
        let cursor: string | undefined;
        for (let i = 0; i < 10; i++) {
          const page = ok(await rpc('list_live_changes', { name: 'micro-m', limit, ...(cursor ? { cursor } : {}) }, umbra.alice));
          ids.push(...page.items.map((c: Data) => c.id as string));
          if (page.nextCursor === null) break;
          cursor = page.nextCursor;
        }
        expect({ limit, ids }).toEqual({ limit, ids: expected });
      }
      // the answer's changedAt is as it was, to the millisecond
      const [, second] = ok(await rpc('list_live_changes', { name: 'micro-m', limit: 2 }, umbra.alice)).items;
      expect(second.changedAt).toBe('2000-01-01T00:00:00.000Z');
      // a millisecond cursor, as given before, pages as it did: before that millisecond's start
      const b64 = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');
      const before = async (changedAt: string, id: string) =>
        ok(await rpc('list_live_changes', { name: 'micro-m', cursor: b64([changedAt, id]) }, umbra.alice)).items.map((c: Data) => c.id);
      expect(await before('2000-01-01T00:00:00.001Z', expected[0])).toEqual(expected.slice(1));
      expect(await before('2000-01-01T00:00:00.000Z', expected[0])).toEqual(expected.slice(5));
      expect(await before(at('000500'), expected[2])).toEqual(expected.slice(3));
      for (const bad of ['2000-01-01T00:00:00.0005Z', '2000-01-01T00:00:00.000500', '2000-02-31T00:00:00.000500Z', '2000-01-01T00:00:00.000500+00:00']) {
        const res = await rpc('list_live_changes', { name: 'micro-m', cursor: b64([bad, expected[0]]) }, umbra.alice);
        expect({ bad, error: res.body.error?.code }).toEqual({ bad, error: 'VALIDATION' });
      }
    });

    it('stamps a live change with the database\'s clock, not the clock of the instance that made it', async () => {
      // this process is the service: its clock an hour behind, as an instance's may be beside another's
      const dbNow = async () => (await sql.query('SELECT clock_timestamp() AS t')).rows[0].t as Date;
      const before = await dbNow();
      const skew = await withClockOffset(
        -3_600_000,
        async () => {
          ok(await rpc('set_live', { name: 'order-h', version: 2 }, umbra.ci));
          // and the instance's metrics say how far off its clock is
          return /^database_clock_skew_seconds\{[^}]*\} (\S+)$/m.exec(await svc.app.get(MetricsRegistry).metrics())?.[1];
        },
        { moving: false },
      );
      expect(Number(skew)).toBeCloseTo(-3600, 0);
      const after = await dbNow();
      const newest = ok(await rpc('list_live_changes', { name: 'order-h', limit: 1 }, umbra.alice)).items[0];
      expect(newest).toMatchObject({ fromVersion: 3, toVersion: 2 });
      const at = new Date(newest.changedAt).getTime();
      expect([at >= before.getTime(), at <= after.getTime()]).toEqual([true, true]);
    });

    it("stamps a hook, its releases, a convention's creation and update, a run and its outputs with the database's clock", async () => {
      const dbNow = async () => (await sql.query('SELECT clock_timestamp() AS t')).rows[0].t as Date;
      const before = await dbNow();
      const seen: Array<[string, string]> = [];
      // this process is the service: its clock an hour behind (and moving), everything else real
      let first: Data;
      await withClockOffset(-3_600_000, async () => {
        const hook = { name: 'clock-k', feature: 'clock.v1', release: release('k1') };
        first = ok(await rpc('deploy_convention', { slug: 'clocked', schema: {}, hooks: [hook] }, umbra.admin)).convention;
        const updated = ok(await rpc('deploy_convention', { slug: 'clocked', schema: { type: 'object' }, hooks: [hook] }, umbra.admin)).convention;
        ok(await rpc('create_release', { name: 'clock-k', ...release('k2') }, umbra.ci));
        const run = ok(await rpc('start_run', { name: 'clock-k' }, umbra.ci));
        const [outputId] = ok(await rpc('add_outputs', { runId: run.runId, rows: [{ n: 1 }] }, umbra.ci)).ids as string[];
        const prov = ok(await rpc('get_provenance', { id: outputId }, umbra.alice));
        seen.push(
          ['convention.createdAt', first.createdAt],
          ['convention.updatedAt', updated.updatedAt],
          ['hook.createdAt', ok(await rpc('get', { name: 'clock-k' }, umbra.alice)).createdAt],
          ...ok(await rpc('list_releases', { name: 'clock-k' }, umbra.alice)).items.map((r: Data): [string, string] => [`release ${r.version}.builtAt`, r.builtAt]),
          ['run.startedAt', prov.run.startedAt],
          ['output.createdAt', prov.output.createdAt],
        );
        expect(updated.createdAt).toBe(first.createdAt);
      });
      const after = await dbNow();
      const inWindow = (at: string) => Date.parse(at) >= before.getTime() && Date.parse(at) <= after.getTime();
      expect(seen.filter(([, at]) => !inWindow(at))).toEqual([]);
      expect(seen.map(([what]) => what)).toEqual([
        'convention.createdAt', 'convention.updatedAt', 'hook.createdAt', 'release 2.builtAt', 'release 1.builtAt', 'run.startedAt', 'output.createdAt',
      ]);
      // and the convention's creation, as answered, is the one stored
      expect(ok(await rpc('get_convention', { slug: 'clocked' }, umbra.alice)).createdAt).toBe(first.createdAt);
      // and what one transaction writes carries one time: its start, as the database stamped the outbox row written
      // with it
      const same = await sql.query(
        `SELECT r.version, r.built_at = o.created_at AS release, h.created_at = o.created_at AS hook, c.created_at = o.created_at AS convention
           FROM hooks h JOIN hook_releases r ON r.hook_id = h.id JOIN outbox o ON o.payload->>'resource' = 'release:' || r.id
           JOIN conventions c ON c.tenant_id = h.tenant_id AND c.slug = 'clocked'
          WHERE h.tenant_id = 'umbra' AND h.name = 'clock-k' ORDER BY r.version`,
      );
      expect(same.rows).toEqual([
        { version: 1, release: true, hook: true, convention: true },
        { version: 2, release: true, hook: false, convention: false },
      ]);
    });
  });
});
