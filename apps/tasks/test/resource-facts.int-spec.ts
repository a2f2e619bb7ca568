import pg from 'pg';
import { NatsCaller, testPrefix, userToken, type RunningService } from '@agentplane/testing';
import type { TestDatabase } from '@agentplane/persistence';
import { startTasks, tasksDatabase } from './setup.js';

/**
 * The internal subjects authz-proxy asks tasks (DESIGN §3, read-after-write and tenant status): a row's facts exactly
 * as its registration states them, confined to the forwarded token's tenant; only authz-proxy's identity may ask.
 */
describe('tasks.internal.v1.resource_facts / resource_counts / pending_registrations', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let caller: NatsCaller;
  let authz: NatsCaller;
  const prefix = testPrefix('tasks_facts');
  const t: Record<string, string> = {};
  let agentId: string;
  let taskId: string;

  beforeAll(async () => {
    db = await tasksDatabase();
    svc = await startTasks(db, prefix, { TASKS_AUTHZ_REGISTRATION: 'outbox', OUTBOX_RELAY: 'off' });
    caller = await NatsCaller.connect(prefix);
    authz = await NatsCaller.connect(prefix, 'authz-proxy');
    t.alice = await userToken('acme', 'alice');
    t.mallory = await userToken('globex', 'mallory', { roles: ['admin'] });
    const agent = await caller.request('tasks.v1.create_agent', { name: 'facts' }, { token: t.alice });
    agentId = (agent.body.data as { id: string }).id;
    // the agent's creator may create under it without asking authz (its owner)
    const task = await caller.request('tasks.v1.create', { agentId, name: 'facts-task' }, { token: t.alice });
    expect(task.body.ok).toBe(true);
    taskId = (task.body.data as { id: string }).id;
  });

  afterAll(async () => {
    await authz?.close();
    await caller?.close();
    await svc?.close();
    await db?.drop();
  });

  const facts = async (resource: string, token: string) => (await authz.request('tasks.internal.v1.resource_facts', { resource }, { token })).body;

  it('states an agent\'s and a task\'s tenant, owner and parent as their registrations do', async () => {
    expect(await facts(`agent:${agentId}`, t.alice!)).toEqual({ ok: true, data: { facts: { tenant: 'acme', owner: 'user:alice' } } });
    expect(await facts(`task:${taskId}`, t.alice!)).toEqual({ ok: true, data: { facts: { tenant: 'acme', owner: 'user:alice', parent: `agent:${agentId}` } } });
  });

  it('knows nothing outside the token\'s tenant, of unknown ids or of other types', async () => {
    expect(await facts(`task:${taskId}`, t.mallory!)).toEqual({ ok: true, data: { facts: null } });
    expect(await facts('agent:00000000-0000-4000-8000-000000000000', t.alice!)).toEqual({ ok: true, data: { facts: null } });
    expect(await facts('agent:not-a-uuid', t.alice!)).toEqual({ ok: true, data: { facts: null } });
    expect(await facts(`hook:${agentId}`, t.alice!)).toEqual({ ok: true, data: { facts: null } });
    expect((await authz.request('tasks.internal.v1.resource_facts', { resource: `agent:${agentId}`, tenant: 'globex' }, { token: t.alice })).body).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    expect((await authz.request('tasks.internal.v1.resource_facts', { resource: `agent:${agentId}` })).body).toMatchObject({ ok: false, error: { code: 'UNAUTHENTICATED' } });
  });

  it('counts the tenant\'s agents and tasks', async () => {
    expect((await authz.request('tasks.internal.v1.resource_counts', {}, { token: t.alice })).body).toEqual({ ok: true, data: { counts: { agent: 1, task: 1 } } });
    expect((await authz.request('tasks.internal.v1.resource_counts', {}, { token: t.mallory })).body).toEqual({ ok: true, data: { counts: { agent: 0, task: 0 } } });
  });

  const sqlExec = async (text: string) => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      await c.query(text);
    } finally {
      await c.end();
    }
  };
  const pending = async (body: Record<string, unknown>, token: string) => (await authz.request('tasks.internal.v1.pending_registrations', { publishedWithinMs: 30_000, limit: 100, ...body }, { token })).body;

  it('lists the registrations still in its outbox, as they state them, in resource order, within the token\'s tenant', async () => {
    // the relay is off: both registrations are unpublished (the task's rides its create's row, in `more`)
    expect(await pending({ type: 'agent' }, t.alice!)).toEqual({ ok: true, data: { registrations: [{ resource: `agent:${agentId}`, tenant: 'acme', owner: 'user:alice' }], truncated: false } });
    expect(await pending({ type: 'task' }, t.alice!)).toEqual({ ok: true, data: { registrations: [{ resource: `task:${taskId}`, tenant: 'acme', owner: 'user:alice', parent: `agent:${agentId}` }], truncated: false } });
    expect(await pending({ type: 'task' }, t.mallory!)).toEqual({ ok: true, data: { registrations: [], truncated: false } });
    expect(await pending({ type: 'hook' }, t.alice!)).toEqual({ ok: true, data: { registrations: [], truncated: false } });
    expect(await pending({ type: 'task', after: `task:${taskId}` }, t.alice!)).toMatchObject({ data: { registrations: [] } });

    const more: string[] = [];
    for (const name of ['p-1', 'p-2']) more.push(((await caller.request('tasks.v1.create', { agentId, name }, { token: t.alice })).body.data as { id: string }).id);
    const all = [taskId, ...more].map((id) => `task:${id}`).sort();
    const page = await pending({ type: 'task', limit: 2 }, t.alice!);
    expect(page).toMatchObject({ ok: true, data: { truncated: true } });
    expect((page.data as { registrations: Array<{ resource: string }> }).registrations.map((r) => r.resource)).toEqual(all.slice(0, 2));

    // published long ago: applied by now, not listed; within a window that long, listed
    await sqlExec(`UPDATE outbox SET published_at = now() - interval '1 hour', more_published_at = CASE WHEN more IS NULL THEN NULL ELSE now() - interval '1 hour' END`);
    expect(await pending({ type: 'task' }, t.alice!)).toMatchObject({ data: { registrations: [] } });
    expect((await pending({ type: 'task', publishedWithinMs: 7_200_000 }, t.alice!)).data).toMatchObject({ registrations: all.map((resource) => ({ resource })) });

    // a deleted task's registration is not listed: its deregistration is on its way too
    expect((await caller.request('tasks.v1.delete', { id: more[0] }, { token: t.alice })).body.ok).toBe(true);
    expect(((await pending({ type: 'task', publishedWithinMs: 7_200_000 }, t.alice!)).data as { registrations: Array<{ resource: string }> }).registrations.map((r) => r.resource)).toEqual(all.filter((r) => r !== `task:${more[0]}`));
  });

  it('refuses a type no service registers, a window past a day, a field it does not take', async () => {
    for (const body of [{ type: 'tenant' }, { type: 'task', publishedWithinMs: 90_000_000 }, { type: 'task', tenant: 'globex' }, { type: 'task', limit: 0 }]) {
      expect([body, await pending(body, t.alice!)]).toEqual([body, expect.objectContaining({ ok: false, error: expect.objectContaining({ code: 'VALIDATION' }) })]);
    }
  });

  it('is refused by the bus to anyone but authz-proxy (a caller\'s request never reaches tasks)', async () => {
    await expect(caller.request('tasks.internal.v1.pending_registrations', { type: 'task', publishedWithinMs: 0, limit: 1 }, { token: t.alice, timeoutMs: 1_000 })).rejects.toThrow();
    await expect(caller.request('tasks.internal.v1.resource_facts', { resource: `agent:${agentId}` }, { token: t.alice, timeoutMs: 1_000 })).rejects.toThrow();
    await expect(caller.request('tasks.internal.v1.resource_counts', {}, { token: t.alice, timeoutMs: 1_000 })).rejects.toThrow();
  });
});
