import { signDevToken } from '@agentplane/auth';
import type { NatsCaller } from '@agentplane/testing';
import { freePort, spawnApp, stopChild, waitReady, type RunningApp } from '../../src/stack.js';
import { reconcileCli } from '../../src/reconcile.js';
import { bootStack, call, callerOf, waitFor, E2E_SECRET, sqlQuery, type E2E } from './harness.js';

const token = (sub: string, extra: object = {}) => signDevToken({ secret: E2E_SECRET, issuer: 'agentplane', audience: 'agentplane', tenant: 'acme', sub, ...extra });

/** Runs `fn` over `items`, `width` at a time. */
async function each<T, R>(items: T[], width: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width) out.push(...(await Promise.all(items.slice(i, i + width).map(fn))));
  return out;
}

/**
 * The rollout of issue 17, end to end: tasks ran with registration `off`, 1,000 tasks exist without tuples; switched
 * to `outbox`, `authz:reconcile --fix` backfills them while creates go on; then rows deleted behind the service's back
 * leave orphans that reconcile reports and removes, exactly; a second --fix changes nothing.
 */
describe('backfill and reconcile for the rollout (registration off → outbox → reconcile --fix → enforce)', () => {
  let e2e: E2E;
  let tasks: RunningApp;
  let caller: NatsCaller;
  let admin: string;
  let creator: string;
  let reader: string;
  const N = 1000;

  beforeAll(async () => {
    e2e = await bootStack('e2e_rollout', { TASKS_AUTHZ_REGISTRATION: 'off' }, { exactConfig: true });
    tasks = e2e.stack.apps.tasks!;
    caller = await callerOf(e2e);
    admin = await token('root', { roles: ['admin'] });
    creator = await token('carol');
    reader = await token('gina');
  }, 120_000);

  afterAll(async () => {
    await caller?.close();
    if (tasks && tasks !== e2e?.stack.apps.tasks) await stopChild(tasks.child);
    await e2e?.stop();
  });

  const ok = <T>(r: { body: { ok: boolean; data?: unknown; error?: unknown } }): T => {
    if (!r.body.ok) throw new Error(JSON.stringify(r.body.error));
    return r.body.data as T;
  };
  const status = () => call(e2e, 'GET', '/v1/authz/tenants/acme/status', { token: admin });
  const reconcile = async (...extra: string[]) => {
    const out: string[] = [];
    const code = await reconcileCli(['--service', 'tasks', '--tenant', 'acme', '--batch', '100', '--service-db', e2e.dbs.tasks!.url, '--authz-db', e2e.dbs['authz-proxy']!.url, ...extra], {
      out: (l) => out.push(l),
      err: (l) => out.push(l),
      env: {},
    });
    return { code, final: JSON.parse(out.at(-1)!) as { report: { missing: number; pending: number; orphans: number; fixed: number }; missing: string[]; orphans: string[] } };
  };


  it('backfills 1,000 unregistered tasks while creates go on, then finds and removes exactly the orphans', async () => {
    // 1. registration off: 1,000 tasks, no tuples
    const agentId = ok<{ id: string }>(await caller.request('tasks.v1.create_agent', { name: 'rollout' }, { token: creator })).id;
    const ids = await each(Array.from({ length: N }, (_, i) => i), 32, async (i) => ok<{ id: string }>(await caller.request('tasks.v1.create', { agentId, name: `old-${i}` }, { token: creator })).id);
    const before = await status();
    expect(before.status).toBe(200);
    expect(before.body.coverage.task).toEqual({ rows: N, registered: 0 });

    // 2. switch tasks to outbox (a restart with the new flag), keep creating, and backfill meanwhile
    const port = new URL(tasks.url).port;
    await stopChild(tasks.child);
    tasks = spawnApp(tasks.spec, Number(port) || (await freePort()), { ...e2e.env, ...e2e.serviceEnv.tasks!, TASKS_AUTHZ_REGISTRATION: 'outbox' });
    await waitReady(tasks, 60_000);
    let creating = true;
    const live: string[] = [];
    const creates = (async () => {
      for (let i = 0; creating; i++) live.push(ok<{ id: string }>(await caller.request('tasks.v1.create', { agentId, name: `live-${i}` }, { token: creator })).id);
    })();
    const fixed = await reconcile('--fix');
    creating = false;
    await creates;
    expect(live.length).toBeGreaterThan(0);
    expect(fixed.final.report.missing).toBeGreaterThanOrEqual(N); // the agent and the 1,000 old tasks
    // every registration lands: coverage 100 %, no orphans, nothing left missing
    const after = await waitFor(status, (r) => r.body.coverage?.task?.registered === r.body.coverage?.task?.rows && r.body.coverage?.agent?.registered === r.body.coverage?.agent?.rows, 60_000);
    expect(after.body.coverage.task).toEqual({ rows: N + live.length, registered: N + live.length });
    expect((await reconcile()).code).toBe(0);

    // 3. in enforce, the creator and a user granted on the agent read every task
    expect((await call(e2e, 'PUT', '/v1/authz/tenants/acme/mode', { token: admin, body: { mode: 'enforce' } })).status).toBe(200);
    expect((await call(e2e, 'POST', '/v1/authz/grants', { token: admin, body: { subject: 'user:gina', action: 'read', resource: `agent:${agentId}` } })).status).toBe(201);
    const all = [...ids, ...live];
    for (const who of [creator, reader]) {
      const answers = await each(all, 32, async (id) => (await caller.request('tasks.v1.get', { id }, { token: who })).body.ok);
      expect(answers.filter((a) => !a)).toHaveLength(0);
    }
    // a member with no relation is refused: the tuples, not the tenant, decide now
    expect((await caller.request('tasks.v1.get', { id: ids[0] }, { token: await token('dave') })).body).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });

    // 4. ten rows deleted behind the service's back: exactly those ten registrations are orphans, and --fix removes them
    const gone = ids.slice(100, 110);
    await sqlQuery(e2e.dbs.tasks!.url, 'DELETE FROM task_events WHERE task_id = ANY($1::uuid[])', [gone]).catch(() => undefined);
    await sqlQuery(e2e.dbs.tasks!.url, 'DELETE FROM tasks WHERE id = ANY($1::uuid[])', [gone]);
    const report = await reconcile();
    expect(report.code).toBe(1);
    expect(report.final.missing).toEqual([]);
    expect([...report.final.orphans].sort()).toEqual(gone.map((id) => `task:${id}`).sort());
    expect((await reconcile('--fix')).final.report.orphans).toBe(10);
    const tuplesOf = async () => Number((await sqlQuery<{ n: string }>(e2e.dbs['authz-proxy']!.url, 'SELECT count(*) AS n FROM tuples WHERE resource = ANY($1)', [gone.map((id) => `task:${id}`)]))[0]!.n);
    expect(await waitFor(tuplesOf, (n) => n === 0, 30_000)).toBe(0);
    // 5. a second --fix changes nothing: nothing reported, no event written
    const outbox = async () => Number((await sqlQuery<{ n: string }>(e2e.dbs.tasks!.url, 'SELECT count(*) AS n FROM outbox'))[0]!.n);
    const rowsBefore = await outbox();
    const again = await reconcile('--fix');
    expect(again.code).toBe(0);
    expect(again.final.report).toMatchObject({ missing: 0, orphans: 0, fixed: 0 });
    expect(await outbox()).toBe(rowsBefore);
  }, 300_000);
});
