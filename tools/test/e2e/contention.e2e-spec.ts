import { signDevToken } from '@agentplane/auth';
import { bootStack, call, E2E_SECRET, type E2E } from './harness.js';

const primary = { secret: E2E_SECRET, issuer: 'agentplane', audience: 'agentplane' };
/** How many copies of one write are sent at once. */
const N = 12;

type Reply = Awaited<ReturnType<typeof call>>;

/** The answers' statuses, counted: `{ 201: 1, 409: 11 }`. */
function tally(replies: Reply[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const r of replies) out[r.status] = (out[r.status] ?? 0) + 1;
  return out;
}

/**
 * The same write sent many times at once, without an idempotency key, at every route where two copies contend for
 * one row (DESIGN §13: "correct under concurrency"). Each answer is the one the route documents for its copy's
 * place in the order (one creates, the rest conflict; a removal is a no-op the second time; the first enablement is
 * kept), never a 5xx, and the state after is what one copy would have left. Where moves are audited, the audit is
 * one unbroken chain.
 */
describe('the same write, many times at once, at every route where copies contend', () => {
  let e2e: E2E;
  let ada: string;
  let bob: string;
  const send = (n: number, make: (i: number) => Promise<Reply>) => Promise.all(Array.from({ length: n }, (_, i) => make(i)));

  beforeAll(async () => {
    e2e = await bootStack('e2e_contention');
    ada = await signDevToken({ ...primary, tenant: 'acme', sub: 'ada', roles: ['admin'] });
    bob = await signDevToken({ ...primary, tenant: 'acme', sub: 'bob', roles: ['admin'] });
  }, 90_000);

  afterAll(async () => {
    await e2e?.stop();
  });

  it('agents and tasks by one name: one 201, the rest 409 naming the field; one of each exists', async () => {
    const agents = await send(N, (i) => call(e2e, 'POST', '/v1/agents', { token: i % 2 ? ada : bob, body: { name: 'contended' } }));
    expect(tally(agents)).toEqual({ 201: 1, 409: N - 1 });
    for (const r of agents.filter((a) => a.status === 409)) expect(r.body.error).toMatchObject({ code: 'CONFLICT', details: { field: 'name' } });
    const agentId = agents.find((a) => a.status === 201)!.body.id as string;
    const listed = await call(e2e, 'GET', '/v1/agents?limit=500', { token: ada });
    expect(listed.body.items.filter((a: { name: string }) => a.name === 'contended')).toHaveLength(1);

    const tasks = await send(N, () => call(e2e, 'POST', '/v1/tasks', { token: ada, body: { agentId, name: 'contended-task' } }));
    expect(tally(tasks)).toEqual({ 201: 1, 409: N - 1 });
    const byName = await call(e2e, 'GET', '/v1/tasks/by-name/contended-task', { token: ada });
    expect(byName.body.id).toBe(tasks.find((t) => t.status === 201)!.body.id);
  });

  it('a pending task canceled and deleted by many at once: one cancel 200 (one `canceled` event), one delete 204, the rest 409 and 404', async () => {
    const agent = await call(e2e, 'POST', '/v1/agents', { token: ada, body: { name: 'cancel-target' } });
    const task = await call(e2e, 'POST', '/v1/tasks', { token: ada, body: { agentId: agent.body.id, name: 'cancel-me' } });
    const cancels = await send(N, () => call(e2e, 'POST', `/v1/tasks/${task.body.id}/cancel`, { token: ada }));
    expect(tally(cancels)).toEqual({ 200: 1, 409: N - 1 });
    expect(cancels.find((c) => c.status === 200)!.body.status).toBe('canceled');
    const events = await call(e2e, 'GET', `/v1/tasks/${task.body.id}/events`, { token: ada });
    expect(events.body.items.map((e: { type: string }) => e.type)).toEqual(['created', 'canceled']);

    const deletes = await send(N, () => call(e2e, 'DELETE', `/v1/tasks/${task.body.id}`, { token: ada }));
    expect(tally(deletes)).toEqual({ 204: 1, 404: N - 1 });
    expect((await call(e2e, 'GET', `/v1/tasks/${task.body.id}`, { token: ada })).status).toBe(404);
  });

  it('workspaces: one name at one place is created once; a removal by many is a no-op after the first; a parent removed while children are created leaves no child under it', async () => {
    const created = await send(N, () => call(e2e, 'POST', '/v1/workspaces', { token: ada, body: { name: 'contended-ws' } }));
    expect(tally(created)).toEqual({ 201: 1, 409: N - 1 });
    const id = created.find((c) => c.status === 201)!.body.id as string;
    const removed = await send(N, () => call(e2e, 'DELETE', `/v1/workspaces/${id}`, { token: ada }));
    expect(tally(removed)).toEqual({ 204: N });
    expect((await call(e2e, 'GET', `/v1/workspaces/${id}`, { token: ada })).body.status).toBe('removed');

    // children created while their parent is removed: either the removal waits for them and refuses (409), or they
    // wait for it and find the parent removed (409 saying so); never a live child under a removed parent
    for (let round = 0; round < 5; round++) {
      const parent = await call(e2e, 'POST', '/v1/workspaces', { token: ada, body: { name: `parent-${round}` } });
      const pid = parent.body.id as string;
      const [removal, ...children] = await Promise.all([
        call(e2e, 'DELETE', `/v1/workspaces/${pid}`, { token: ada }),
        ...Array.from({ length: N - 1 }, (_, i) => call(e2e, 'POST', '/v1/workspaces', { token: ada, body: { name: `child-${i}`, parentId: pid } })),
      ]);
      expect([204, 409]).toContain(removal!.status);
      for (const c of children) {
        if (c.status !== 201) expect(c).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT', details: { field: 'parentId', status: 'removed' } } } });
      }
      const live = (await call(e2e, 'GET', `/v1/workspaces?parentId=${pid}&limit=500`, { token: ada })).body.items.filter((w: { status: string }) => w.status !== 'removed');
      const parentNow = (await call(e2e, 'GET', `/v1/workspaces/${pid}`, { token: ada })).body;
      if (removal!.status === 204) {
        expect(parentNow.status).toBe('removed');
        expect(live).toEqual([]);
      } else {
        expect(removal!.body.error.code).toBe('CONFLICT');
        expect(live.length).toBeGreaterThan(0);
      }
      expect(live.map((w: { id: string }) => w.id).sort()).toEqual(children.filter((c) => c.status === 201).map((c) => c.body.id).sort());
    }
  });

  it('a plugin enabled by two admins at once: every answer names the one enablement kept; disabled by many: gone', async () => {
    const root = await call(e2e, 'POST', '/v1/workspaces', { token: ada, body: { name: 'plugin-root' } });
    const enabled = await send(N, (i) => call(e2e, 'PUT', `/v1/workspaces/${root.body.id}/plugins/slack`, { token: i % 2 ? ada : bob }));
    expect(tally(enabled)).toEqual({ 200: N });
    const kept = (await call(e2e, 'GET', `/v1/workspaces/${root.body.id}/plugins`, { token: ada })).body.items;
    expect(kept).toHaveLength(1);
    for (const r of enabled) expect(r.body).toEqual(kept[0]);

    const disabled = await send(N, () => call(e2e, 'DELETE', `/v1/workspaces/${root.body.id}/plugins/slack`, { token: ada }));
    expect(tally(disabled)).toEqual({ 204: N });
    expect((await call(e2e, 'GET', `/v1/workspaces/${root.body.id}/plugins`, { token: ada })).body.items).toEqual([]);
  });

  it('a grant given and revoked by many at once (enforce): every call succeeds, and the decision follows the last step', async () => {
    // a tenant of its own in `enforce`: in `legacy` any member reads (the rollout's default)
    const gus = await signDevToken({ ...primary, tenant: 'grants', sub: 'gus', roles: ['admin'] });
    const carol = await signDevToken({ ...primary, tenant: 'grants', sub: 'carol' });
    expect((await call(e2e, 'PUT', '/v1/authz/tenants/grants/mode', { token: gus, body: { mode: 'enforce' } })).status).toBe(200);
    const agent = await call(e2e, 'POST', '/v1/agents', { token: gus, body: { name: 'grant-target' } });
    const grant = { subject: 'user:carol', action: 'read', resource: `agent:${agent.body.id}` };
    const readable = async () => (await call(e2e, 'GET', `/v1/agents/${agent.body.id}`, { token: carol })).status;
    expect(await readable()).toBe(404);
    expect((await call(e2e, 'GET', '/v1/agents', { token: carol })).body.items).toEqual([]);

    const granted = await send(N, () => call(e2e, 'POST', '/v1/authz/grants', { token: gus, body: grant }));
    // one of them made the grant; the others found it made (200, created false)
    expect(tally(granted)).toEqual({ 201: 1, 200: N - 1 });
    expect(granted.filter((r) => r.body.created).length).toBe(1);
    expect(await readable()).toBe(200);
    const revoked = await send(N, () => call(e2e, 'DELETE', '/v1/authz/grants', { token: gus, body: grant }));
    expect(tally(revoked)).toEqual({ 204: N });
    expect(await readable()).toBe(404);
    // granted and revoked at once: whichever committed last decides, and the decision says so at once
    const mixed = await send(N, (i) => call(e2e, i % 2 ? 'DELETE' : 'POST', '/v1/authz/grants', { token: gus, body: grant }));
    expect(mixed.every((r) => r.status === 201 || r.status === 200 || r.status === 204)).toBe(true);
    const explained = await call(e2e, 'POST', '/v1/authz/check', { token: gus, body: { ...grant } });
    expect(await readable()).toBe(explained.body.allowed ? 200 : 404);
  });

  it('the live pointer moved by many at once: every move 200, audited as one unbroken chain ending at the live version', async () => {
    const digest = (c: string) => `sha256:${c.repeat(64)}`;
    const deployed = await call(e2e, 'POST', '/v1/conventions', {
      token: ada,
      body: { slug: 'contended', schema: {}, hooks: [{ name: 'contended-hook', feature: 'f', release: { image: 'img:1', digest: digest('a') } }] },
    });
    expect(deployed.status).toBe(201);
    const second = await call(e2e, 'POST', '/v1/hooks/contended-hook/releases', { token: ada, body: { image: 'img:2', digest: digest('b') } });
    expect(second.status).toBe(201);

    const moves = await send(N, (i) => call(e2e, 'PUT', '/v1/hooks/contended-hook/live', { token: ada, body: { version: 1 + (i % 2) } }));
    expect(tally(moves)).toEqual({ 200: N });
    const changes = (await call(e2e, 'GET', '/v1/hooks/contended-hook/live-changes?limit=500', { token: ada })).body.items as Array<{ fromVersion: number | null; toVersion: number; reason: string }>;
    // newest first, down to the deploy (→ 1) and the release (1 → 2); a move to the version already live is no move
    expect(changes.slice(-2).map((c) => [c.reason, c.fromVersion, c.toVersion])).toEqual([['release', 1, 2], ['deploy', null, 1]]);
    expect(changes.length).toBeGreaterThan(2);
    expect(changes.length).toBeLessThanOrEqual(N + 2);
    for (let i = 0; i + 1 < changes.length; i++) {
      expect(changes[i]!.fromVersion).toBe(changes[i + 1]!.toVersion);
      expect(changes[i]!.fromVersion).not.toBe(changes[i]!.toVersion);
    }
    const live = (await call(e2e, 'GET', '/v1/hooks/contended-hook', { token: ada })).body.liveVersion;
    expect(live).toBe(changes[0]!.toVersion);

    // releases of one digest by many at once: one version minted, every answer that release
    const releases = await send(N, () => call(e2e, 'POST', '/v1/hooks/contended-hook/releases', { token: ada, body: { image: 'img:3', digest: digest('c') } }));
    expect(tally(releases)).toEqual({ 200: N - 1, 201: 1 });
    expect(new Set(releases.map((r) => r.body.release.version))).toEqual(new Set([3]));
  });

  it('a run finished by many at once: one 200, the rest 409; every output answered 201 is kept, and none is taken after', async () => {
    const run = await call(e2e, 'POST', '/v1/hooks/contended-hook/runs', { token: ada });
    expect(run.status).toBe(201);
    const runId = run.body.runId as string;
    const [finishes, outputs] = await Promise.all([
      send(N, () => call(e2e, 'POST', `/v1/runs/${runId}/finish`, { token: ada, body: { status: 'succeeded' } })),
      send(N, (i) => call(e2e, 'POST', `/v1/runs/${runId}/outputs`, { token: ada, body: { rows: [{ i }] } })),
    ]);
    expect(tally(finishes)).toEqual({ 200: 1, 409: N - 1 });
    expect(outputs.every((o) => o.status === 201 || (o.status === 409 && o.body.error.code === 'CONFLICT'))).toBe(true);
    // every output that was answered 201 is there, and it names this run
    for (const o of outputs.filter((x) => x.status === 201)) {
      const provenance = await call(e2e, 'GET', `/v1/outputs/${o.body.ids[0]}/provenance`, { token: ada });
      expect(provenance.body.run).toMatchObject({ id: runId });
    }
    // and after the finish, none is taken
    expect((await call(e2e, 'POST', `/v1/runs/${runId}/outputs`, { token: ada, body: { rows: [{ late: true }] } })).status).toBe(409);
  });
});
