import { NatsCaller, serviceAccountToken, testPrefix, userToken, type RunningService } from '@agentplane/testing';
import type { TestDatabase } from '@agentplane/persistence';
import { readMetric } from '@agentplane/observability';
import { startTasks, tasksDatabase } from './setup.js';

describe('tasks service over NATS (a backend calling it directly)', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let caller: NatsCaller;
  const prefix = testPrefix('agents');

  beforeAll(async () => {
    db = await tasksDatabase();
    svc = await startTasks(db, prefix);
    caller = await NatsCaller.connect(prefix);
  });

  afterAll(async () => {
    await caller?.close();
    await svc?.close();
    await db?.drop();
  });

  it('creates and reads an agent with a service-account token: plain JSON in, envelope out', async () => {
    const token = await serviceAccountToken('acme', 'ci-bot');
    const created = await caller.request('tasks.v1.create_agent', { name: 'builder' }, { token });
    expect(created.body.ok).toBe(true);
    const agent = created.body.data as { id: string; tenantId: string; name: string };
    expect(agent).toMatchObject({ tenantId: 'acme', name: 'builder' });

    // its creator reads it back without asking authz-proxy (not running here); anyone else is decided there, and
    // another tenant's caller finds nothing
    const read = await caller.request('tasks.v1.get_agent', { id: agent.id }, { token });
    expect(read.body).toEqual({ ok: true, data: created.body.data });
    const stranger = await caller.request('tasks.v1.get_agent', { id: agent.id }, { token: await userToken('globex', 'alice') });
    expect(stranger.body).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    // and by its name, unique in its tenant: the same agent; another tenant's caller, or an unknown name, finds nothing
    expect((await caller.request('tasks.v1.get_agent_by_name', { name: 'builder' }, { token })).body).toEqual({ ok: true, data: created.body.data });
    expect((await caller.request('tasks.v1.get_agent_by_name', { name: 'builder' }, { token: await userToken('globex', 'alice') })).body).toMatchObject({ ok: false, error: { code: 'NOT_FOUND', message: 'agent not found' } });
    expect((await caller.request('tasks.v1.get_agent_by_name', { name: 'no-such' }, { token })).body).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect((await caller.request('tasks.v1.get_agent_by_name', { name: '..' }, { token })).body).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'name' }] } } });
    // nor can one be created so: every agent made can be read by its name
    for (const name of ['.', '..']) {
      expect((await caller.request('tasks.v1.create_agent', { name }, { token })).body).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'name' }] } } });
    }
  });

  it('lists agents by name with a cursor; a tampered cursor is VALIDATION at cursor (a NUL was PostgreSQL\'s 22021)', async () => {
    const token = await userToken('initech', 'lister');
    const names = ['l-a', 'l-b', 'l-c', 'l-d', 'l-e'];
    for (const name of names) expect((await caller.request('tasks.v1.create_agent', { name }, { token })).body.ok).toBe(true);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
      const data = (await caller.request('tasks.v1.list_agents', { limit: 2, ...(cursor ? { cursor } : {}) }, { token })).body.data as { items: Array<{ name: string }>; nextCursor: string | null };
      seen.push(...data.items.map((a) => a.name));
      if (!data.nextCursor) break;
      cursor = data.nextCursor;
    }
    expect(seen).toEqual(names);
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');
    for (const v of ['\u0000', 'l-\u0000', '', ['l-a'], 7]) {
      const res = await caller.request('tasks.v1.list_agents', { cursor: b64(v) }, { token });
      expect({ v, body: res.body }).toEqual({
        v,
        body: { ok: false, error: { code: 'VALIDATION', message: 'cursor is not one this list returned', details: { issues: [{ path: 'cursor', message: 'invalid cursor' }] } } },
      });
    }
  });

  it('answers UNAUTHENTICATED without a token or with a bad one', async () => {
    const none = await caller.request('tasks.v1.create_agent', { name: 'x' });
    expect(none.body).toMatchObject({ ok: false, error: { code: 'UNAUTHENTICATED' } });
    const forged = await caller.request('tasks.v1.create_agent', { name: 'x' }, { token: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4IiwidGlkIjoiYWNtZSJ9.' });
    expect(forged.body).toMatchObject({ ok: false, error: { code: 'UNAUTHENTICATED' } });
  });

  it('answers VALIDATION with the field path for a bad payload, and for bytes that are not JSON', async () => {
    const token = await userToken('acme', 'alice');
    const bad = await caller.request('tasks.v1.create_agent', { name: 42 }, { token });
    expect(bad.body).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'name' }] } } });
    const notJson = await caller.request('tasks.v1.create_agent', null, { token, raw: '{"name":' });
    expect(notJson.body).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
  });

  it('hides another tenant\'s agent (NOT_FOUND) and rejects a duplicate name (CONFLICT)', async () => {
    const alice = await userToken('acme', 'alice');
    const created = await caller.request('tasks.v1.create_agent', { name: 'dup' }, { token: alice });
    const id = (created.body.data as { id: string }).id;
    const other = await caller.request('tasks.v1.get_agent', { id }, { token: await userToken('globex', 'bob') });
    expect(other.body).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    const again = await caller.request('tasks.v1.create_agent', { name: 'dup' }, { token: alice });
    expect(again.body).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });
  });

  it('counts and times each request by its pattern and outcome in rpc_server_* (the NATS server does, not an interceptor)', async () => {
    const alice = await userToken('acme', 'alice');
    const before = { ok: await handledBy(svc, 'tasks.v1.get_agent'), error: await handledBy(svc, 'tasks.v1.get_agent', 'error') };
    const created = await caller.request('tasks.v1.create_agent', { name: 'counted' }, { token: alice });
    const id = (created.body.data as { id: string }).id;
    await caller.request('tasks.v1.get_agent', { id }, { token: alice });
    await caller.request('tasks.v1.get_agent', { id }, { token: alice });
    await caller.request('tasks.v1.get_agent', { id: 'not-a-uuid' }, { token: alice }); // VALIDATION
    await caller.request('tasks.v1.get_agent', { id }); // UNAUTHENTICATED: the guard's refusal counts too
    expect(await handledBy(svc, 'tasks.v1.get_agent')).toBe(before.ok + 2);
    expect(await handledBy(svc, 'tasks.v1.get_agent', 'error')).toBe(before.error + 2);
    expect(await readMetric(svc.url, 'rpc_server_duration_seconds_count', { subject: 'tasks.v1.get_agent' })).toBeGreaterThan(0);
  });

  it('shares requests between two instances of the same queue group', async () => {
    const extra = await Promise.all([startTasks(db, prefix), startTasks(db, prefix)]);
    try {
      await svc.close(); // leave only the two instances whose logs we read
      const token = await userToken('acme', 'alice');
      await Promise.all(Array.from({ length: 40 }, (_, i) => caller.request('tasks.v1.create_agent', { name: `q-${i}` }, { token })));
      const handled = await Promise.all(extra.map((s) => handledBy(s, 'tasks.v1.create_agent')));
      expect(handled[0]! + handled[1]!).toBe(40);
      expect(handled[0]).toBeGreaterThan(0);
      expect(handled[1]).toBeGreaterThan(0);
    } finally {
      await Promise.all(extra.map((s) => s.close()));
      svc = await startTasks(db, prefix);
    }
  });
});

/** Requests one instance handled (with `outcome`), from its own /metrics. */
function handledBy(svc: RunningService, subject: string, outcome: 'ok' | 'error' = 'ok'): Promise<number> {
  return readMetric(svc.url, 'rpc_server_requests_total', { subject, outcome });
}
