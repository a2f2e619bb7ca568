import pg from 'pg';
import type { TestDatabase } from '@agentplane/persistence';
import { NatsCaller, serviceAccountToken, testPrefix, userToken, type RawReply, type RunningService } from '@agentplane/testing';
import { registryDatabase, release, startRegistry } from './setup.js';

// reply bodies are asserted field by field
type Data = any;

const TABLES = ['hooks', 'hook_releases', 'live_changes', 'conventions', 'outbox', 'hook_runs', 'outputs'];

describe('hooks.v1.deploy_convention: one transaction per bundle', () => {
  let db: TestDatabase;
  let sql: pg.Client;
  let svc: RunningService;
  let caller: NatsCaller;
  const prefix = testPrefix('hooks_conv');
  let deployer: string;

  const ok = (r: RawReply): Data => {
    if (!r.body.ok) throw new Error(`expected ok, got ${JSON.stringify(r.body.error)}`);
    return r.body.data;
  };
  const deploy = (body: unknown, token = deployer, idempotencyKey?: string) =>
    caller.request('hooks.v1.deploy_convention', body, { token, idempotencyKey, timeoutMs: 20_000 });
  const counts = async () => {
    const out: Record<string, number> = {};
    for (const t of TABLES) out[t] = Number((await sql.query(`SELECT count(*) FROM ${t}`)).rows[0].count);
    return out;
  };
  const bundle = (slug: string, hooks: Array<[string, string, string]>, schema: object = { fields: ['a'] }) => ({
    slug,
    schema,
    hooks: hooks.map(([name, feature, label]) => ({ name, feature, release: release(label) })),
  });

  beforeAll(async () => {
    db = await registryDatabase();
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    svc = await startRegistry(db, prefix, { OUTBOX_RELAY: 'off' });
    caller = await NatsCaller.connect(prefix);
    deployer = await serviceAccountToken('acme', 'deployer', { scopes: ['conventions:write'] });
  });

  afterAll(async () => {
    await caller?.close();
    await svc?.close();
    await sql?.end();
    await db?.drop();
  });

  it('creates hooks with their first release (live) and the convention; an identical re-deploy changes nothing', async () => {
    const b = bundle('crm', [['score', 'scores.v1', 's1'], ['dedupe', 'dedupe.v1', 'd1'], ['tag', 'tags.v1', 't1']]);
    const first = ok(await deploy(b));
    expect(first.changed).toBe(true);
    expect(first.hooks).toEqual([
      expect.objectContaining({ name: 'score', hookCreated: true, releaseCreated: true, version: 1 }),
      expect.objectContaining({ name: 'dedupe', hookCreated: true, releaseCreated: true, version: 1 }),
      expect.objectContaining({ name: 'tag', hookCreated: true, releaseCreated: true, version: 1 }),
    ]);
    expect(first.convention).toMatchObject({ slug: 'crm', hookNames: ['score', 'dedupe', 'tag'], schema: { fields: ['a'] }, updatedBy: 'service_account:deployer' });
    const hooks = await sql.query(`SELECT h.name, h.feature, h.created_by, r.version FROM hooks h JOIN hook_releases r ON r.id = h.live_release_id ORDER BY name`);
    expect(hooks.rows).toEqual([
      { name: 'dedupe', feature: 'dedupe.v1', created_by: 'service_account:deployer', version: 1 },
      { name: 'score', feature: 'scores.v1', created_by: 'service_account:deployer', version: 1 },
      { name: 'tag', feature: 'tags.v1', created_by: 'service_account:deployer', version: 1 },
    ]);

    const before = await counts();
    const again = ok(await deploy(bundle('crm', [['score', 'scores.v1', 's1'], ['dedupe', 'dedupe.v1', 'd1'], ['tag', 'tags.v1', 't1']])));
    expect(again.changed).toBe(false);
    expect(again.hooks.every((h: Data) => !h.hookCreated && !h.releaseCreated)).toBe(true);
    expect(again.convention).toEqual(first.convention);
    expect(await counts()).toEqual(before);
  });

  it('mints the next release only for a changed digest, and records a schema change', async () => {
    const r = ok(await deploy(bundle('crm', [['score', 'scores.v1', 's2'], ['dedupe', 'dedupe.v1', 'd1'], ['tag', 'tags.v1', 't1']], { fields: ['a', 'b'] })));
    expect(r.changed).toBe(true);
    expect(r.hooks.map((h: Data) => [h.name, h.releaseCreated, h.version])).toEqual([['score', true, 2], ['dedupe', false, 1], ['tag', false, 1]]);
    expect(r.convention.schema).toEqual({ fields: ['a', 'b'] });
    const live = await sql.query(`SELECT r.version FROM hooks h JOIN hook_releases r ON r.id = h.live_release_id WHERE h.name = 'score'`);
    expect(live.rows[0].version).toBe(2);
    const changes = await sql.query(`SELECT from_version, to_version, reason, changed_by FROM live_changes lc JOIN hooks h ON h.id = lc.hook_id WHERE h.name = 'score' ORDER BY changed_at`);
    expect(changes.rows).toEqual([
      { from_version: null, to_version: 1, reason: 'deploy', changed_by: 'service_account:deployer' },
      { from_version: 1, to_version: 2, reason: 'deploy', changed_by: 'service_account:deployer' },
    ]);
  });

  it('rejects a changed output contract with CONFLICT; failing on the third hook leaves nothing of the deploy behind', async () => {
    const before = await counts();
    // Hooks are applied in name order: a-fresh and b-fresh are written before c-score's conflict is found.
    ok(await deploy(bundle('other', [['c-score', 'scores.v1', 'cs1']])));
    const mid = await counts();
    const r = await deploy(bundle('brand-new', [['a-fresh', 'fresh.v1', 'af1'], ['b-fresh', 'fresh.v1', 'bf1'], ['c-score', 'scores.v2', 'cs2']]));
    expect(r.body).toMatchObject({ ok: false, error: { code: 'CONFLICT', details: { path: 'hooks.2.feature', hook: 'c-score', feature: 'scores.v1' } } });
    expect(await counts()).toEqual(mid);
    expect((await sql.query(`SELECT count(*)::int AS n FROM hooks WHERE name IN ('a-fresh', 'b-fresh')`)).rows[0].n).toBe(0);
    expect((await sql.query(`SELECT count(*)::int AS n FROM conventions WHERE slug = 'brand-new'`)).rows[0].n).toBe(0);
    expect((await sql.query(`SELECT count(*)::int AS n FROM hook_releases WHERE config->>'label' = 'cs2'`)).rows[0].n).toBe(0);
    expect(mid.hooks).toBe(before.hooks + 1);
    // The same conflict on an existing convention leaves it as it was.
    const conv = await deploy(bundle('crm', [['score', 'scores.v9', 's3'], ['dedupe', 'dedupe.v1', 'd1'], ['tag', 'tags.v1', 't1']]));
    expect(conv.body).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });
    expect(await counts()).toEqual(mid);
  });

  it('applies concurrent identical deploys once: one changed, the rest identical, one set of rows', async () => {
    const before = await counts();
    const b = bundle('race', [['r-one', 'race.v1', 'ro1'], ['r-two', 'race.v1', 'rt1']]);
    const replies = (await Promise.all(Array.from({ length: 8 }, () => deploy(b)))).map(ok);
    expect(replies.filter((r) => r.changed)).toHaveLength(1);
    const after = await counts();
    expect(after.hooks - before.hooks).toBe(2);
    expect(after.hook_releases - before.hook_releases).toBe(2);
    expect(after.conventions - before.conventions).toBe(1);
  });

  it('needs conventions:write (admin passes); a duplicate hook name is VALIDATION with its path', async () => {
    const hooksOnly = await serviceAccountToken('acme', 'ci', { scopes: ['hooks:write'] });
    const b = bundle('gated', [['g1', 'g.v1', 'g1']]);
    expect((await deploy(b, hooksOnly)).body).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(ok(await deploy(b, await userToken('acme', 'root', { roles: ['admin'] }))).changed).toBe(true);
    const dup = await deploy(bundle('dup', [['x1', 'f', 'x1'], ['x1', 'f', 'x2']]));
    expect(dup.body).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'hooks.1.name' }] } } });
    const read = ok(await caller.request('hooks.v1.get_convention', { slug: 'gated' }, { token: hooksOnly }));
    expect(read).toMatchObject({ slug: 'gated', hookNames: ['g1'], updatedBy: 'user:root' });
  });

  it('replays a deploy under the same Idempotency-Key', async () => {
    const b = bundle('idem', [['i1', 'i.v1', 'i1']]);
    const first = await deploy(b, deployer, 'deploy-key-1');
    const retry = await deploy(b, deployer, 'deploy-key-1');
    expect(ok(first).changed).toBe(true);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers['idempotent-replayed']).toBe('true');
  });
});
