import pg from 'pg';
import { createTestDatabase, SqlPool, type TestDatabase } from '@agentplane/persistence';
import { migrationsDir } from '../src/stack.js';
import { reconcile, reconcileCli } from '../src/reconcile.js';

const agent = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const task = (n: number) => `00000000-0000-4000-9000-${String(n).padStart(12, '0')}`;

/** `npm run authz:reconcile` on real tasks and authz-proxy databases (DESIGN §3 backfill and reconcile). */
describe('authz:reconcile --service tasks', () => {
  let tasksDb: TestDatabase;
  let authzDb: TestDatabase;
  let tasks: pg.Client;
  let authz: pg.Client;

  const run = async (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await reconcileCli(['--service', 'tasks', '--service-db', tasksDb.url, '--authz-db', authzDb.url, ...args], { out: (l) => out.push(l), err: (l) => err.push(l), env: {} });
    const last = out.length > 0 ? (JSON.parse(out.at(-1)!) as { report: Record<string, number>; missing: string[]; orphans: string[] }) : undefined;
    return { code, out, err, last };
  };
  const register = (resource: string, tenant: string, extra: Array<[string, string]> = []) =>
    authz.query(
      `INSERT INTO tuples (resource, relation, subject, tenant_id, resource_type) SELECT $1, r, s, $2, split_part($1, ':', 1) FROM unnest($3::text[], $4::text[]) AS x(r, s)`,
      [resource, tenant, ['tenant', ...extra.map((e) => e[0])], [`tenant:${tenant}`, ...extra.map((e) => e[1])]],
    );
  const outbox = async () =>
    (await tasks.query<{ subject: string; payload: unknown }>('SELECT subject, payload FROM outbox WHERE published_at IS NULL ORDER BY created_at, payload->>\'resource\'')).rows;

  beforeAll(async () => {
    [tasksDb, authzDb] = await Promise.all([
      createTestDatabase({ service: 'tasks', migrationsDir: migrationsDir('tasks') }),
      createTestDatabase({ service: 'authz-proxy', migrationsDir: migrationsDir('authz-proxy') }),
    ]);
    tasks = new pg.Client({ connectionString: tasksDb.url });
    authz = new pg.Client({ connectionString: authzDb.url });
    await Promise.all([tasks.connect(), authz.connect()]);
    // acme: agents 1 (registered), 2 (created while registration was off), 3 (its registration still in the outbox)
    for (const [n, by] of [[1, 'user:alice'], [2, 'service_account:bot'], [3, null]] as const) {
      await tasks.query('INSERT INTO agents (id, tenant_id, name, created_by) VALUES ($1, $2, $3, $4)', [agent(n), 'acme', `a${n}`, by]);
    }
    await tasks.query('INSERT INTO agents (id, tenant_id, name, created_by) VALUES ($1, $2, $3, $4)', [agent(9), 'globex', 'g9', null]);
    await tasks.query(`INSERT INTO tasks (id, tenant_id, agent_id, name, creator_user_id) VALUES ($1, 'acme', $2, 't1', 'alice'), ($3, 'acme', $2, 't2', 'bob')`, [task(1), agent(1), task(2)]);
    await tasks.query(`INSERT INTO outbox (id, subject, payload) VALUES (gen_random_uuid(), 'events.tasks.resource_registered', $1)`, [JSON.stringify({ resource: `agent:${agent(3)}`, tenant: 'acme' })]);
    await register(`agent:${agent(1)}`, 'acme', [['owner', 'user:alice']]);
    await register(`task:${task(1)}`, 'acme', [['owner', 'user:alice'], ['parent', `agent:${agent(1)}`]]);
    // orphans: a deleted agent's registration left behind, and a grant-bearing deleted task
    await register(`agent:${agent(7)}`, 'acme');
    await register(`task:${task(8)}`, 'acme', [['parent', `agent:${agent(1)}`], ['read', 'user:carol']]);
    await register(`agent:${agent(10)}`, 'globex');
  }, 60_000);

  afterAll(async () => {
    await Promise.all([tasks?.end(), authz?.end()]);
    await Promise.all([tasksDb?.drop(), authzDb?.drop()]);
  });

  it('reports rows without registration, pending ones and registrations without rows, in keyset batches; exit 1', async () => {
    const r = await run('--batch', '2');
    expect(r.code).toBe(1);
    expect(r.last!.report).toEqual({ missing: 3, pending: 1, orphans: 3, fixed: 0 });
    expect(r.last!.missing).toEqual([`agent:${agent(2)}`, `agent:${agent(9)}`, `task:${task(2)}`]);
    expect(r.last!.orphans).toEqual([`agent:${agent(7)}`, `agent:${agent(10)}`, `task:${task(8)}`]);
    // one line per batch, each with its cursor
    expect(r.out.slice(0, -1).map((l) => JSON.parse(l).cursor)).toEqual([
      `agent:rows:${agent(2)}`, `agent:rows:${agent(9)}`,
      `agent:registrations:agent:${agent(7)}`, `agent:registrations:agent:${agent(10)}`,
      `task:rows:${task(2)}`,
      `task:registrations:task:${task(8)}`,
    ]);
    expect(await outbox()).toHaveLength(1); // a report changes nothing
  });

  it('keeps to one tenant with --tenant, and resumes from a cursor', async () => {
    const globex = await run('--tenant', 'globex');
    expect(globex.last).toMatchObject({ missing: [`agent:${agent(9)}`], orphans: [`agent:${agent(10)}`] });
    const resumed = await run('--tenant', 'acme', '--resume', `task:rows:${task(1)}`);
    expect(resumed.last).toMatchObject({ missing: [`task:${task(2)}`], orphans: [`task:${task(8)}`] });
  });

  it('--fix writes the registrations and deregistrations to the service\'s outbox once, as the service would', async () => {
    const fixed = await run('--fix', '--tenant', 'acme');
    expect(fixed.last!.report).toEqual({ missing: 2, pending: 1, orphans: 2, fixed: 4 });
    const events = (await outbox()).slice(1);
    expect(events).toEqual(expect.arrayContaining([
      { subject: 'events.tasks.resource_registered', payload: { resource: `agent:${agent(2)}`, tenant: 'acme', owner: 'service_account:bot' } },
      { subject: 'events.tasks.resource_registered', payload: { resource: `task:${task(2)}`, tenant: 'acme', owner: 'user:bob', parent: `agent:${agent(1)}` } },
      { subject: 'events.tasks.resource_deregistered', payload: { resource: `agent:${agent(7)}` } },
      { subject: 'events.tasks.resource_deregistered', payload: { resource: `task:${task(8)}` } },
    ]));
    expect(events).toHaveLength(4);
    // again: everything is now pending in the outbox, nothing is written twice
    const again = await run('--fix', '--tenant', 'acme');
    expect(again.last!.report).toEqual({ missing: 0, pending: 5, orphans: 0, fixed: 0 });
    expect(again.code).toBe(0);
    expect(await outbox()).toHaveLength(5);
  });

  it('ends while tasks and registrations keep coming: each pass stops where its table ended when it began', async () => {
    // Ids are time-ordered, so what is made during a run sorts after everything the run set out to read. A pass that
    // followed it would chase a busy service for as long as it is busy (the e2e rollout once ran 300 s that way).
    // Here a task row without a registration and a registration without a row are made after every batch.
    const late = (n: number) => `ffffffff-0000-4000-9000-${String(n).padStart(12, '0')}`;
    const lateOrphan = (n: number) => `ffffffff-0000-4000-a000-${String(n).padStart(12, '0')}`;
    const serviceDb = new SqlPool({ url: tasksDb.url, max: 2 });
    const authzPool = new SqlPool({ url: authzDb.url, max: 1 });
    const made: Array<{ pass: string; task: string; orphan: string }> = [];
    try {
      const report = await reconcile({
        service: 'tasks',
        serviceDb,
        authzDb: authzPool,
        tenant: 'acme',
        batch: 1,
        log: async (line) => {
          if (made.length >= 100) throw new Error('still reading after 100 batches: the run chases what is made meanwhile');
          const n = made.length;
          await tasks.query(`INSERT INTO tasks (id, tenant_id, agent_id, name, creator_user_id) VALUES ($1, 'acme', $2, $3, 'alice')`, [late(n), agent(1), `late-${n}`]);
          await register(`task:${lateOrphan(n)}`, 'acme');
          made.push({ pass: String(line.cursor).split(':').slice(0, 2).join(':'), task: `task:${late(n)}`, orphan: `task:${lateOrphan(n)}` });
        },
      });
      // What was made before the task passes began is read (as missing, as orphans); nothing made during them is.
      expect(report.missing.filter((r) => r.startsWith('task:ffffffff-')).sort()).toEqual(made.filter((m) => m.pass.startsWith('agent:')).map((m) => m.task));
      expect(report.orphans.filter((r) => r.startsWith('task:ffffffff-')).sort()).toEqual(made.filter((m) => m.pass !== 'task:registrations').map((m) => m.orphan));
      expect(made.filter((m) => m.pass.startsWith('task:')).length).toBeGreaterThan(0);
    } finally {
      await tasks.query(`DELETE FROM tasks WHERE id >= 'ffffffff-0000-0000-0000-000000000000'`);
      await authz.query(`DELETE FROM tuples WHERE resource >= 'task:ffffffff-'`);
      await Promise.all([serviceDb.end(), authzPool.end()]);
    }
  });

  it('refuses an unknown service or a bad batch (exit 2)', async () => {
    expect((await reconcileCli(['--service', 'nope'], { out: () => undefined, err: () => undefined, env: {} }))).toBe(2);
    expect((await reconcileCli(['--service', 'tasks', '--batch', '0'], { out: () => undefined, err: () => undefined, env: {} }))).toBe(2);
  });
});

/** The same for workspace-installer: live workspaces against `workspace:` registrations; a removed one is an orphan. */
describe('authz:reconcile --service workspace-installer', () => {
  let wsDb: TestDatabase;
  let authzDb: TestDatabase;
  let ws: pg.Client;
  let authz: pg.Client;
  const w = (n: number) => `00000000-0000-4000-a000-${String(n).padStart(12, '0')}`;

  beforeAll(async () => {
    [wsDb, authzDb] = await Promise.all([
      createTestDatabase({ service: 'workspace-installer', migrationsDir: migrationsDir('workspace-installer') }),
      createTestDatabase({ service: 'authz-proxy', migrationsDir: migrationsDir('authz-proxy') }),
    ]);
    ws = new pg.Client({ connectionString: wsDb.url });
    authz = new pg.Client({ connectionString: authzDb.url });
    await Promise.all([ws.connect(), authz.connect()]);
    await ws.query(`INSERT INTO workspaces (id, org_id, parent_id, name, created_by) VALUES ($1, 'acme', NULL, 'root', 'user:alice')`, [w(1)]);
    await ws.query(`INSERT INTO workspaces (id, org_id, parent_id, name, created_by) VALUES ($1, 'acme', $2, 'child', 'user:bob')`, [w(2), w(1)]);
    await ws.query(`INSERT INTO workspaces (id, org_id, parent_id, name, status) VALUES ($1, 'acme', $2, 'gone', 'removed')`, [w(3), w(1)]);
    await authz.query(`INSERT INTO tuples (resource, relation, subject, tenant_id, resource_type) VALUES ($1, 'tenant', 'tenant:acme', 'acme', 'workspace'), ($2, 'tenant', 'tenant:acme', 'acme', 'workspace')`, [`workspace:${w(1)}`, `workspace:${w(3)}`]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([ws?.end(), authz?.end()]);
    await Promise.all([wsDb?.drop(), authzDb?.drop()]);
  });

  it('finds the unregistered child and the removed workspace\'s registration, and --fix queues their events once', async () => {
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l), env: {} };
    const args = ['--service', 'workspace-installer', '--service-db', wsDb.url, '--authz-db', authzDb.url];
    expect(await reconcileCli([...args, '--fix'], io)).toBe(1);
    expect(JSON.parse(out.at(-1)!)).toMatchObject({ missing: [`workspace:${w(2)}`], orphans: [`workspace:${w(3)}`], report: { fixed: 2 } });
    const events = (await ws.query<{ subject: string; payload: unknown }>('SELECT subject, payload FROM outbox ORDER BY subject')).rows;
    expect(events).toEqual([
      { subject: 'events.workspaces.resource_deregistered', payload: { resource: `workspace:${w(3)}` } },
      { subject: 'events.workspaces.resource_registered', payload: { resource: `workspace:${w(2)}`, tenant: 'acme', owner: 'user:bob', parent: `workspace:${w(1)}` } },
    ]);
    expect(await reconcileCli([...args, '--fix'], io)).toBe(0);
    expect((await ws.query('SELECT count(*)::int AS n FROM outbox')).rows[0].n).toBe(2);
  });
});

/** And for hook-registry: hooks, releases (under their hook) and runs (under their release). */
describe('authz:reconcile --service hook-registry', () => {
  let hooksDb: TestDatabase;
  let authzDb: TestDatabase;
  let hooks: pg.Client;
  let authz: pg.Client;
  const id = (n: number) => `00000000-0000-4000-b000-${String(n).padStart(12, '0')}`;

  beforeAll(async () => {
    [hooksDb, authzDb] = await Promise.all([
      createTestDatabase({ service: 'hook-registry', migrationsDir: migrationsDir('hook-registry') }),
      createTestDatabase({ service: 'authz-proxy', migrationsDir: migrationsDir('authz-proxy') }),
    ]);
    hooks = new pg.Client({ connectionString: hooksDb.url });
    authz = new pg.Client({ connectionString: authzDb.url });
    await Promise.all([hooks.connect(), authz.connect()]);
    await hooks.query('BEGIN');
    await hooks.query(`INSERT INTO hooks (id, tenant_id, name, feature, live_release_id, created_by) VALUES ($1, 'acme', 'score', 'score.v1', $2, 'user:alice')`, [id(1), id(2)]);
    await hooks.query(`INSERT INTO hook_releases (id, hook_id, version, image, digest, built_by) VALUES ($1, $2, 1, 'img', 'sha256:${'a'.repeat(64)}', 'service_account:ci')`, [id(2), id(1)]);
    await hooks.query(`INSERT INTO hook_runs (id, tenant_id, hook_id, release_id, started_by) VALUES ($1, 'acme', $2, $3, 'system:sweeper')`, [id(3), id(1), id(2)]);
    await hooks.query('COMMIT');
    await authz.query(`INSERT INTO tuples (resource, relation, subject, tenant_id, resource_type) VALUES ($1, 'tenant', 'tenant:acme', 'acme', 'hook'), ($2, 'tenant', 'tenant:acme', 'acme', 'run')`, [`hook:${id(1)}`, `run:${id(9)}`]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([hooks?.end(), authz?.end()]);
    await Promise.all([hooksDb?.drop(), authzDb?.drop()]);
  });

  it('restates the release and the run as hook-registry registers them, and deregisters a run that has no row', async () => {
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l), env: {} };
    const args = ['--service', 'hook-registry', '--service-db', hooksDb.url, '--authz-db', authzDb.url];
    expect(await reconcileCli([...args, '--fix'], io)).toBe(1);
    expect(JSON.parse(out.at(-1)!)).toMatchObject({ missing: [`release:${id(2)}`, `run:${id(3)}`], orphans: [`run:${id(9)}`], report: { fixed: 3 } });
    const events = (await hooks.query<{ subject: string; payload: unknown }>('SELECT subject, payload FROM outbox ORDER BY subject, payload->>\'resource\'')).rows;
    expect(events).toEqual([
      { subject: 'events.hook-registry.resource_deregistered', payload: { resource: `run:${id(9)}` } },
      { subject: 'events.hook-registry.resource_registered', payload: { resource: `release:${id(2)}`, tenant: 'acme', owner: 'service_account:ci', parent: `hook:${id(1)}` } },
      { subject: 'events.hook-registry.resource_registered', payload: { resource: `run:${id(3)}`, tenant: 'acme', parent: `release:${id(2)}` } },
    ]);
    expect(await reconcileCli([...args, '--fix'], io)).toBe(0);
  });
});
