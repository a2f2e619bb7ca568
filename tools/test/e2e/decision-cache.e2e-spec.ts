import { signDevToken } from '@agentplane/auth';
import { readMetric } from '@agentplane/observability';
import { bootStack, call, E2E_SECRET, sqlQuery, waitFor, type E2E } from './harness.js';

const primary = { secret: E2E_SECRET, issuer: 'agentplane', audience: 'agentplane' };
const token = (tenant: string, sub: string, extra: object = {}) => signDevToken({ ...primary, tenant, sub, ...extra });

/**
 * tasks keeps allowed authz decisions until authz-proxy announces a change that may take them away (DESIGN §3, the
 * decision cache): the whole stack, one process per app, the checks counted where authz-proxy answers them.
 */
describe('the decision cache: tasks asks once, and a revocation holds from the next request', () => {
  let e2e: E2E;
  let alice: string; // owns the agent
  let carol: string; // granted write on it
  let admin: string;
  let agentId: string;
  let n = 0;
  const metric = (app: string, name: string, labels: Record<string, string>) => readMetric(e2e.stack.apps[app]!.url, name, labels);
  const checksAnswered = () => metric('authz-proxy', 'rpc_server_requests_total', { subject: 'authz.v1.check' });
  const create = (who: string) => call(e2e, 'POST', '/v1/tasks', { token: who, body: { agentId, name: `t-${++n}` } });
  const grant = (method: 'POST' | 'DELETE') => call(e2e, method, '/v1/authz/grants', { token: admin, body: { subject: 'user:carol', action: 'write', resource: `agent:${agentId}` } });

  beforeAll(async () => {
    // 2 s without a beacon before the cache stops answering (the default is 500 ms): a CI machine's pause must not
    // empty it between the creates this suite counts
    e2e = await bootStack('e2e_dcache', { TASKS_AUTHZ_DECISION_CACHE_FRESH_MS: '2000' });
    alice = await token('acme', 'alice');
    carol = await token('acme', 'carol');
    admin = await token('acme', 'root', { roles: ['admin'] });
    agentId = (await call(e2e, 'POST', '/v1/agents', { token: alice, body: { name: 'cached' } })).body.id;
    // until the agent's registration lands, authz-proxy decides from tasks' row, and such answers are never kept
    await waitFor(() => sqlQuery(e2e.dbs['authz-proxy']!.url, 'SELECT 1 FROM tuples WHERE resource = $1', [`agent:${agentId}`]), (rows) => rows.length > 0, 10_000);
    expect((await grant('POST')).status).toBe(201);
  }, 120_000);

  afterAll(async () => {
    await e2e?.stop();
  });

  it('asks authz-proxy for the first of a granted caller\'s creates only', async () => {
    const before = await checksAnswered();
    const hits = await metric('tasks', 'authz_decision_cache_total', { outcome: 'hit' });
    for (let i = 0; i < 5; i++) expect((await create(carol)).status).toBe(201);
    expect((await checksAnswered()) - before).toBe(1);
    expect((await metric('tasks', 'authz_decision_cache_total', { outcome: 'hit' })) - hits).toBe(4);
  });

  it('refuses the create right after the revocation\'s 204, then allows it again right after a new grant', async () => {
    expect((await create(carol)).status).toBe(201);
    expect((await grant('DELETE')).status).toBe(204);
    const refused = await create(carol);
    expect(refused.status).toBe(404); // no read either: the agent does not exist for carol
    expect(refused.body.error.code).toBe('NOT_FOUND');
    expect((await grant('POST')).status).toBe(201);
    expect((await create(carol)).status).toBe(201); // a denial is never kept
  });

  it('under concurrent creates, refuses every create sent after a revocation\'s 204 and before the next grant, and allows every one after the grant\'s 201', async () => {
    // Six clients create as carol without pause while an admin revokes and grants again, 15 times or more, at random
    // intervals: a check in flight during a revocation must not leave an allowed decision behind it. A create counts
    // for a window only when it was sent after the window opened and answered before it closed.
    const windows: Array<{ from: number; to: number; expect: number }> = [];
    const creates: Array<{ start: number; end: number; status: number }> = [];
    let running = true;
    const client = async () => {
      while (running) {
        const start = performance.now();
        const res = await create(carol);
        creates.push({ start, end: performance.now(), status: res.status });
      }
    };
    const pause = () => new Promise((r) => setTimeout(r, 20 + Math.random() * 60));
    const judge = () => windows.flatMap((w) => creates.filter((c) => c.start > w.from && c.end < w.to).map((c) => ({ ...c, expect: w.expect })));
    // at least 15 rounds, and more (up to 60) until each side has judged 10 creates: a loaded machine fits fewer in each
    const enough = () => ['404', '201'].every((side) => judge().filter((c) => String(c.expect) === side).length >= 10);
    const admin = async () => {
      for (let i = 0; i < 60 && (i < 15 || !enough()); i++) {
        await pause();
        expect((await grant('DELETE')).status).toBe(204);
        const revoked = performance.now();
        await pause();
        const granting = performance.now();
        expect((await grant('POST')).status).toBe(201);
        windows.push({ from: revoked, to: granting, expect: 404 });
        const granted = performance.now();
        await pause();
        windows.push({ from: granted, to: performance.now(), expect: 201 });
      }
      running = false;
    };
    await Promise.all([admin(), ...Array.from({ length: 6 }, client)]);
    const judged = judge();
    expect(judged.filter((c) => c.status !== c.expect)).toEqual([]);
    // the run judged creates on both sides of the line, not a handful
    expect(judged.filter((c) => c.expect === 404).length).toBeGreaterThanOrEqual(10);
    expect(judged.filter((c) => c.expect === 201).length).toBeGreaterThanOrEqual(10);
  }, 60_000);

  it('stops answering from the cache once authz-proxy is gone (no beacon heard): the create fails, it is not allowed', async () => {
    const before = await checksAnswered();
    expect((await create(carol)).status).toBe(201);
    expect((await create(carol)).status).toBe(201);
    expect((await checksAnswered()) - before).toBeLessThanOrEqual(1); // the second at least came from the cache
    e2e.stack.apps['authz-proxy']!.child.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 3_000)); // past the 2 s the cache answers without a beacon
    const res = await create(carol);
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('UNAVAILABLE');
    // the tasks service's own failure: the outcome of its call to authz-proxy is not the create's (nothing was written)
    expect([res.body.error.message, res.body.error.details]).toEqual([expect.stringMatching(/^authz\.v1\.check/), undefined]);
  });
});
