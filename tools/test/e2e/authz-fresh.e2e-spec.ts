import { signDevToken } from '@agentplane/auth';
import { readMetric } from '@agentplane/observability';
import pg from 'pg';
import { reconcileCli } from '../../src/reconcile.js';
import { bootStack, call, callerOf, natsAs, waitFor, E2E_SECRET, type E2E } from './harness.js';

const token = (tenant: string, sub: string, extra: object = {}) => signDevToken({ secret: E2E_SECRET, issuer: 'agentplane', audience: 'agentplane', tenant, sub, ...extra });

const ROUNDS = 50;

/**
 * DESIGN §3, a fresh resource answers like an old one: every decision about a committed agent or task is the same
 * before its registration (riding the outbox) has landed as after, for every principal, in `enforce`; and nobody
 * gains access, nor can anyone but authz-proxy ask an owning service for a resource's facts.
 */
describe('read-after-write for fresh resources (enforce, outbox registration)', () => {
  let e2e: E2E;
  let adminA: string;
  let adminB: string;
  let opsBot: string; // a service account with the admin role
  let carol: string; // granted read on each fresh agent
  let dave: string; // a plain member, never granted anything
  let mallory: string; // another tenant's admin

  beforeAll(async () => {
    e2e = await bootStack('e2e_fresh', { TASKS_AUTHZ_REGISTRATION: 'outbox' }, { callers: ['intruder'] });
    adminA = await token('acme', 'admin-a', { roles: ['admin'] });
    adminB = await token('acme', 'admin-b', { roles: ['admin'] });
    opsBot = await token('acme', 'ops-bot', { roles: ['admin'], serviceAccount: true });
    carol = await token('acme', 'carol');
    dave = await token('acme', 'dave');
    mallory = await token('globex', 'mallory', { roles: ['admin'] });
    expect((await call(e2e, 'PUT', '/v1/authz/tenants/acme/mode', { token: adminA, body: { mode: 'enforce' } })).status).toBe(200);
  }, 120_000);

  afterAll(async () => {
    await e2e?.stop();
  });

  it(`${ROUNDS} rounds: another admin and an admin service account create tasks under a fresh agent, a reader granted on it reads them at once: 0 refusals`, async () => {
    const refusals: string[] = [];
    const expectStatus = (what: string, res: { status: number; body: unknown }, status: number) => {
      if (res.status !== status) refusals.push(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
    };
    const made: Array<{ agent: string; tasks: string[] }> = [];
    for (let i = 0; i < ROUNDS; i++) {
      const agent = await call(e2e, 'POST', '/v1/agents', { token: adminA, body: { name: `fresh-${i}` } });
      expect(agent.status).toBe(201);
      const agentId: string = agent.body.id;
      const [byAdmin, byBot] = await Promise.all([
        call(e2e, 'POST', '/v1/tasks', { token: adminB, body: { agentId, name: `fresh-${i}-b` } }),
        call(e2e, 'POST', '/v1/tasks', { token: opsBot, body: { agentId, name: `fresh-${i}-bot` } }),
      ]);
      expectStatus(`round ${i} admin B creates a task`, byAdmin, 201);
      expectStatus(`round ${i} the admin service account creates a task`, byBot, 201);
      const grant = await call(e2e, 'POST', '/v1/authz/grants', { token: adminB, body: { subject: 'user:carol', action: 'read', resource: `agent:${agentId}` } });
      expectStatus(`round ${i} admin B grants carol read on the agent`, grant, 201);
      const tasks = [byAdmin, byBot].filter((t) => t.status === 201).map((t) => t.body.id as string);
      const reads = await Promise.all(tasks.map((id) => call(e2e, 'GET', `/v1/tasks/${id}`, { token: carol })));
      reads.forEach((r, n) => expectStatus(`round ${i} carol reads task ${n}`, r, 200));
      made.push({ agent: agentId, tasks });
    }
    expect(refusals).toEqual([]);

    // and once every registration has landed, the same answers
    const last = made.at(-1)!;
    const lastTask = last.tasks[0]!;
    await waitFor(() => call(e2e, 'POST', '/v1/authz/check', { token: adminA, body: { subject: 'user:dave', action: 'read', resource: `task:${lastTask}` } }), (r) => r.body?.reason === 'no_relation', 10_000);
    for (const m of made.slice(-5)) {
      for (const id of m.tasks) expect((await call(e2e, 'GET', `/v1/tasks/${id}`, { token: carol })).status).toBe(200);
    }
  }, 300_000);

  it('reports the tenant\'s status: mode, rows against registrations per type once the outbox drained, shadow mismatches; and the registration lag', async () => {
    const status = () => call(e2e, 'GET', '/v1/authz/tenants/acme/status', { token: adminA });
    const drained = await waitFor(status, (r) => r.status === 200 && ['agent', 'task'].every((t) => r.body.coverage[t]?.rows === r.body.coverage[t]?.registered), 15_000);
    expect(drained.body).toMatchObject({ tenantId: 'acme', mode: 'enforce', shadowMismatches: 0 });
    expect(drained.body.coverage.agent.rows).toBeGreaterThanOrEqual(ROUNDS);
    expect(drained.body.coverage.task.rows).toBeGreaterThanOrEqual(2 * ROUNDS);
    expect((await call(e2e, 'GET', '/v1/authz/tenants/acme/status', { token: carol })).status).toBe(403);
    expect((await call(e2e, 'GET', '/v1/authz/tenants/acme/status', { token: mallory })).status).toBe(403);
    // shadow: dave (no relation) reading a task is allowed by legacy, refused by enforce: one mismatch
    await call(e2e, 'PUT', '/v1/authz/tenants/acme/mode', { token: adminA, body: { mode: 'shadow' } });
    const [task] = (await call(e2e, 'GET', '/v1/tasks?limit=1', { token: adminA })).body.items;
    expect((await call(e2e, 'GET', `/v1/tasks/${task.id}`, { token: dave })).status).toBe(200);
    const shadow = await waitFor(status, (r) => r.body.shadowMismatches >= 1, 5_000);
    expect(shadow.body).toMatchObject({ mode: 'shadow', shadowMismatches: 1 });
    await call(e2e, 'PUT', '/v1/authz/tenants/acme/mode', { token: adminA, body: { mode: 'enforce' } });
    const count = await readMetric(e2e.stack.apps['authz-proxy']!.url, 'authz_registration_lag_seconds_count', { type: 'resource_registered' });
    expect(count).toBeGreaterThanOrEqual(3 * ROUNDS);
  }, 60_000);

  it('fresh hooks, releases and runs too: a reader granted on a fresh hook reads its fresh release and run at once; a plain member is refused', async () => {
    const refusals: string[] = [];
    for (let i = 0; i < 10; i++) {
      const digest = `sha256:${String(i).padStart(64, 'a')}`;
      const deployed = await call(e2e, 'POST', '/v1/conventions', {
        token: adminA,
        body: { slug: `fresh-${i}`, schema: { fields: ['x'] }, hooks: [{ name: `fresh-hook-${i}`, feature: `fresh${i}.v1`, release: { image: `registry.example.test/h${i}`, digest } }] },
      });
      expect(deployed.status).toBe(201);
      const run = await call(e2e, 'POST', `/v1/hooks/fresh-hook-${i}/runs`, { token: adminA });
      expect(run.status).toBe(201);
      const { hookId, id: releaseId } = run.body.release;
      const grant = await call(e2e, 'POST', '/v1/authz/grants', { token: adminB, body: { subject: 'user:carol', action: 'read', resource: `hook:${hookId}` } });
      if (grant.status !== 201) refusals.push(`round ${i} grant on the hook: ${grant.status}`);
      for (const resource of [`release:${releaseId}`, `run:${run.body.runId}`]) {
        const c = await call(e2e, 'POST', '/v1/authz/check', { token: carol, body: { action: 'read', resource } });
        if (c.body?.reason !== 'inherited_grant') refusals.push(`round ${i} carol reads ${resource}: ${JSON.stringify(c.body)}`);
        const d = await call(e2e, 'POST', '/v1/authz/check', { token: dave, body: { action: 'read', resource } });
        if (d.body?.reason !== 'no_relation') refusals.push(`round ${i} dave reads ${resource}: ${JSON.stringify(d.body)}`);
      }
      const owner = await call(e2e, 'POST', '/v1/authz/check', { token: adminB, body: { subject: 'user:admin-a', action: 'write', resource: `run:${run.body.runId}` } });
      if (owner.body?.reason !== 'owner') refusals.push(`round ${i} admin A owns its run: ${JSON.stringify(owner.body)}`);
    }
    expect(refusals).toEqual([]);
    // hook-registry counts its rows for the tenant status
    const status = await waitFor(
      () => call(e2e, 'GET', '/v1/authz/tenants/acme/status', { token: adminA }),
      (r) => ['hook', 'release', 'run'].every((t) => r.body?.coverage?.[t]?.rows === 10 && r.body.coverage[t].registered === 10),
      15_000,
    );
    expect(status.body.coverage).toMatchObject({ hook: { rows: 10, registered: 10 }, release: { rows: 10, registered: 10 }, run: { rows: 10, registered: 10 } });
  }, 120_000);

  it('fresh workspaces too: a grant on a fresh workspace reaches its fresh child at once; its creator owns it; a plain member is refused', async () => {
    const refusals: string[] = [];
    const made: string[] = [];
    for (let i = 0; i < 10; i++) {
      const parent = await call(e2e, 'POST', '/v1/workspaces', { token: adminA, body: { name: `fresh-ws-${i}` } });
      expect(parent.status).toBe(201);
      const child = await call(e2e, 'POST', '/v1/workspaces', { token: adminB, body: { name: `fresh-ws-${i}-child`, parentId: parent.body.id } });
      expect(child.status).toBe(201);
      made.push(parent.body.id, child.body.id);
      const grant = await call(e2e, 'POST', '/v1/authz/grants', { token: adminB, body: { subject: 'user:carol', action: 'read', resource: `workspace:${parent.body.id}` } });
      if (grant.status !== 201) refusals.push(`round ${i} grant on the workspace: ${grant.status}`);
      const expectations: Array<[string, string, string, string, string?]> = [
        [carol, 'read', `workspace:${child.body.id}`, 'inherited_grant'],
        [dave, 'read', `workspace:${child.body.id}`, 'no_relation'],
        [adminA, 'write', `workspace:${child.body.id}`, 'owner', 'user:admin-b'],
        [mallory, 'read', `workspace:${parent.body.id}`, 'not_found'],
      ];
      for (const [tok, action, resource, reason, subject] of expectations) {
        const c = await call(e2e, 'POST', '/v1/authz/check', { token: tok, body: { action, resource, ...(subject ? { subject } : {}) } });
        if (c.body?.reason !== reason) refusals.push(`round ${i} ${action} ${resource}${subject ? ` for ${subject}` : ''}: ${JSON.stringify(c.body)} (want ${reason})`);
      }
    }
    expect(refusals).toEqual([]);
    const status = await waitFor(
      () => call(e2e, 'GET', '/v1/authz/tenants/acme/status', { token: adminA }),
      (r) => r.body?.coverage?.workspace?.rows >= made.length && r.body.coverage.workspace.rows === r.body.coverage.workspace.registered,
      15_000,
    );
    expect(status.body.coverage.workspace.registered).toBe(status.body.coverage.workspace.rows);
  }, 120_000);

  it('refuses a plain member a fresh task and a fresh agent, as it will once they are registered; another tenant sees nothing', async () => {
    const agent = await call(e2e, 'POST', '/v1/agents', { token: adminA, body: { name: 'fresh-denied' } });
    const task = await call(e2e, 'POST', '/v1/tasks', { token: adminB, body: { agentId: agent.body.id, name: 'fresh-denied-task' } });
    expect(task.status).toBe(201);
    const asDave = async () => [
      (await call(e2e, 'GET', `/v1/tasks/${task.body.id}`, { token: dave })).status,
      (await call(e2e, 'POST', '/v1/tasks', { token: dave, body: { agentId: agent.body.id, name: `dave-${Math.random()}` } })).status,
      (await call(e2e, 'POST', '/v1/authz/grants', { token: dave, body: { subject: 'user:dave', action: 'read', resource: `agent:${agent.body.id}` } })).status,
      (await call(e2e, 'GET', `/v1/tasks/${task.body.id}`, { token: mallory })).status,
      (await call(e2e, 'POST', '/v1/authz/check', { token: mallory, body: { action: 'read', resource: `task:${task.body.id}` } })).body,
    ];
    const fresh = await asDave();
    expect(fresh).toEqual([404, 404, 404, 404, { allowed: false, reason: 'not_found' }]);
    // the owner (admin B) gets the owner's answer on its fresh task, not only the admin's
    expect((await call(e2e, 'POST', '/v1/authz/check', { token: adminA, body: { subject: 'user:admin-b', action: 'delete', resource: `task:${task.body.id}` } })).body).toEqual({ allowed: true, reason: 'owner' });
    await waitFor(() => call(e2e, 'POST', '/v1/authz/check', { token: adminA, body: { subject: 'user:dave', action: 'read', resource: `task:${task.body.id}` } }), (r) => r.body?.reason === 'no_relation', 10_000);
    expect(await asDave()).toEqual(fresh);
  }, 60_000);

  it('lists a fresh agent, task, workspace, hook and run in lookup at once, to whom it will list them once registered', async () => {
    // a tenant of its own, so that the lists hold only what this test makes
    const admin = await token('lookups', 'admin', { roles: ['admin'] });
    const reader = await token('lookups', 'reader');
    const member = await token('lookups', 'member');
    expect((await call(e2e, 'PUT', '/v1/authz/tenants/lookups/mode', { token: admin, body: { mode: 'enforce' } })).status).toBe(200);
    const lookup = async (tok: string, type: string, action = 'read') =>
      (await call(e2e, 'GET', `/v1/authz/lookup?action=${action}&type=${type}&limit=500`, { token: tok })).body.items as string[];
    const missing: string[] = [];
    const expectListed = (what: string, items: string[], ref: string, listed: boolean) => {
      if (items.includes(ref) !== listed) missing.push(`${what}: ${ref} ${listed ? 'missing' : 'listed'}`);
    };
    for (let i = 0; i < 10; i++) {
      const agent = await call(e2e, 'POST', '/v1/agents', { token: admin, body: { name: `lookup-${i}` } });
      const agentRef = `agent:${agent.body.id}`;
      expectListed(`round ${i} the admin's agents`, await lookup(admin, 'agent'), agentRef, true);
      const task = await call(e2e, 'POST', '/v1/tasks', { token: admin, body: { agentId: agent.body.id, name: `lookup-${i}` } });
      const taskRef = `task:${task.body.id}`;
      expect((await call(e2e, 'POST', '/v1/authz/grants', { token: admin, body: { subject: 'user:reader', action: 'read', resource: agentRef } })).status).toBe(201);
      const [asAdmin, asReader, asMember, toWrite] = await Promise.all([lookup(admin, 'task'), lookup(reader, 'task'), lookup(member, 'task'), lookup(reader, 'task', 'write')]);
      expectListed(`round ${i} the admin's tasks`, asAdmin, taskRef, true);
      expectListed(`round ${i} the tasks the reader may read (granted on their agent)`, asReader, taskRef, true);
      expectListed(`round ${i} the tasks the reader may write`, toWrite, taskRef, false);
      expectListed(`round ${i} a plain member's tasks`, asMember, taskRef, false);
      const ws = await call(e2e, 'POST', '/v1/workspaces', { token: admin, body: { name: `lookup-ws-${i}` } });
      expectListed(`round ${i} the admin's workspaces`, await lookup(admin, 'workspace'), `workspace:${ws.body.id}`, true);
    }
    const deployed = await call(e2e, 'POST', '/v1/conventions', {
      token: admin,
      body: { slug: 'lookup', schema: { fields: ['x'] }, hooks: [{ name: 'lookup-hook', feature: 'lookup.v1', release: { image: 'registry.example.test/lookup', digest: `sha256:${'b'.repeat(64)}` } }] },
    });
    expect(deployed.status).toBe(201);
    const run = await call(e2e, 'POST', '/v1/hooks/lookup-hook/runs', { token: admin });
    expect(run.status).toBe(201);
    const [hooks, runs] = await Promise.all([lookup(admin, 'hook'), lookup(admin, 'run')]);
    expectListed('the admin\'s hooks', hooks, `hook:${run.body.release.hookId}`, true);
    expectListed('the admin\'s runs', runs, `run:${run.body.runId}`, true);
    expect(missing).toEqual([]);
  }, 120_000);

  it('lets no caller ask an owning service for facts: the server refuses the internal subject, REST and NATS bodies carrying facts are VALIDATION', async () => {
    const agent = await call(e2e, 'POST', '/v1/agents', { token: adminA, body: { name: 'fresh-forge' } });
    const ref = `agent:${agent.body.id}`;
    // a check carrying the facts it would like (owner: dave) is refused as a bad request, over REST and NATS
    const forged = { action: 'read', resource: ref, tenant: 'acme', owner: 'user:dave', facts: { tenant: 'acme', owner: 'user:dave' } };
    expect((await call(e2e, 'POST', '/v1/authz/check', { token: dave, body: forged })).status).toBe(400);
    const caller = await callerOf(e2e, 'test-caller');
    try {
      const reply = await caller.request('authz.v1.check', forged, { token: dave });
      expect(reply.body.ok ? 'OK' : reply.body.error!.code).toBe('VALIDATION');
      // the internal facts subject: the server refuses the caller's publish (nobody answers it)
      await expect(caller.request('tasks.internal.v1.resource_facts', { resource: ref }, { token: dave, timeoutMs: 1_000 })).rejects.toThrow();
    } finally {
      await caller.close();
    }
    // nor can anyone answer in the owner's place: a caller may not subscribe to it (the server refuses)
    const intruder = await natsAs(e2e, 'intruder');
    try {
      let refused = false;
      intruder.subscribe(`${e2e.prefix}tasks.internal.v1.resource_facts`, { callback: (err) => { if (err) refused = true; } });
      await intruder.flush();
      expect(await waitFor(() => refused, Boolean, 5_000)).toBe(true);
    } finally {
      await intruder.close().catch(() => undefined);
    }
    expect((await call(e2e, 'POST', '/v1/authz/check', { token: dave, body: { action: 'read', resource: ref } })).body).toEqual({ allowed: false, reason: 'no_relation' });
  }, 60_000);

  it('authz:reconcile --fix repairs a lost registration and an orphan through the tasks outbox, live', async () => {
    const agent = await call(e2e, 'POST', '/v1/agents', { token: adminA, body: { name: 'reconciled' } });
    const ref = `agent:${agent.body.id}`;
    const orphan = 'agent:00000000-0000-4000-8000-0000000000ff';
    const authz = new pg.Client({ connectionString: e2e.dbs['authz-proxy']!.url });
    await authz.connect();
    try {
      const tuples = async (r: string) => (await authz.query('SELECT relation FROM tuples WHERE resource = $1 ORDER BY 1', [r])).rows.map((x) => x.relation);
      expect(await waitFor(() => tuples(ref), (t) => t.includes('tenant'), 10_000)).toEqual(['owner', 'tenant']);
      // the registration is lost, and a registration without a row is left behind
      await authz.query('DELETE FROM tuples WHERE resource = $1', [ref]);
      await authz.query(`INSERT INTO tuples (resource, relation, subject, tenant_id, resource_type) VALUES ($1, 'tenant', 'tenant:acme', 'acme', 'agent')`, [orphan]);
      const out: string[] = [];
      const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l), env: {} };
      const args = ['--service', 'tasks', '--tenant', 'acme', '--service-db', e2e.dbs['tasks']!.url, '--authz-db', e2e.dbs['authz-proxy']!.url];
      expect(await reconcileCli([...args, '--fix'], io)).toBe(1);
      expect(JSON.parse(out.at(-1)!)).toMatchObject({ missing: [ref], orphans: [orphan] });
      expect(await waitFor(() => tuples(ref), (t) => t.length === 2, 10_000)).toEqual(['owner', 'tenant']);
      expect(await waitFor(() => tuples(orphan), (t) => t.length === 0, 10_000)).toEqual([]);
      expect(await reconcileCli(args, io)).toBe(0);
    } finally {
      await authz.end();
    }
  }, 60_000);
});
