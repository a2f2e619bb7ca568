import { signDevToken } from '@agentplane/auth';
import { bootStack, call, E2E_SECRET, restartApp, waitFor, type E2E } from './harness.js';

const token = (tenant: string, sub: string) => signDevToken({ secret: E2E_SECRET, issuer: 'agentplane', audience: 'agentplane', tenant, sub, roles: [] });

/** Ms since `t0` when the promise settles, with its value. */
const timed = <T>(p: Promise<T>, since: () => number) => p.then((v) => ({ ms: Date.now() - since(), v }));

/**
 * A stop (SIGTERM, as a deploy sends) with long-polls and streams open: each caller is answered at once and the
 * process exits promptly, never after the callers' timeouts (UNAVAILABLE) or a stream that lives as long as its task.
 */
describe('stopping a service with long-polls and streams open', () => {
  let e2e: E2E;
  let alice: string;
  let agentId: string;
  beforeAll(async () => {
    e2e = await bootStack('e2e_shutdown');
    alice = await token('acme', 'alice');
    agentId = (await call(e2e, 'POST', '/v1/agents', { token: alice, body: { name: 'stopping' } })).body.id;
  }, 90_000);
  afterAll(async () => {
    await e2e?.stop();
  });

  it('tasks answers its waiting claim, get and history page at once when it stops, and exits', async () => {
    const task = (await call(e2e, 'POST', '/v1/tasks', { token: alice, body: { agentId, name: 'held' } })).body;
    expect((await call(e2e, 'POST', `/v1/agents/${agentId}/claims`, { token: alice, body: { workerId: 'w1' } })).body.items).toHaveLength(1);
    let t0 = 0;
    const since = () => t0;
    // three long-polls of 30 s: a claim finding nothing, a get and a history page of a running task
    const claim = timed(call(e2e, 'POST', `/v1/agents/${agentId}/claims`, { token: alice, body: { workerId: 'w2', waitMs: 30_000 } }), since);
    const get = timed(call(e2e, 'GET', `/v1/tasks/${task.id}?waitMs=30000`, { token: alice }), since);
    const page = timed(call(e2e, 'GET', `/v1/tasks/${task.id}/events?after=2&waitMs=30000`, { token: alice }), since);
    await new Promise((r) => setTimeout(r, 700)); // all three are waiting in tasks now
    const tasks = e2e.stack.apps.tasks!;
    const exited = new Promise<number>((r) => tasks.child.once('exit', () => r(Date.now() - t0)));
    t0 = Date.now();
    tasks.child.kill('SIGTERM');
    const [exitMs, c, g, p] = await Promise.all([exited, claim, get, page]);
    expect([c.v.status, c.v.body]).toEqual([200, { items: [] }]);
    expect([g.v.status, g.v.body.status]).toEqual([200, 'running']);
    expect([p.v.status, p.v.body.items, p.v.body.status]).toEqual([200, [], 'running']);
    // answered as the stop began (they would have read 503 after 35 s), and the process gone soon after
    for (const r of [c, g, p]) expect(r.ms).toBeLessThan(3_000);
    expect(exitMs).toBeLessThan(5_000);
    await restartApp(e2e, 'tasks');
    expect((await call(e2e, 'GET', `/v1/tasks/${task.id}`, { token: alice })).body.status).toBe('running');
  }, 60_000);

  it('the gateway ends its event streams and answers its waiting reads at once when it stops, and exits', async () => {
    const task = (await call(e2e, 'POST', '/v1/tasks', { token: alice, body: { agentId, name: 'watched' } })).body;
    const gateway = e2e.stack.apps.gateway!;
    const res = await fetch(`${e2e.url}/v1/tasks/${task.id}/events`, { headers: { authorization: `Bearer ${alice}`, accept: 'text/event-stream' } });
    expect(res.status).toBe(200);
    let t0 = 0;
    const since = () => t0;
    let text = '';
    const reader = res.body!.getReader();
    const streamEnded = timed(
      (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return text;
          text += new TextDecoder().decode(value);
        }
      })(),
      since,
    );
    const get = timed(call(e2e, 'GET', `/v1/tasks/${task.id}?waitMs=30000`, { token: alice }), since);
    await waitFor(() => text, (t) => t.includes('event: created'), 5_000);
    await new Promise((r) => setTimeout(r, 500));
    const exited = new Promise<number>((r) => gateway.child.once('exit', () => r(Date.now() - t0)));
    t0 = Date.now();
    gateway.child.kill('SIGTERM');
    const [exitMs, s, g] = await Promise.all([exited, streamEnded, get]);
    // the stream ends cleanly (no error event: a client resumes with Last-Event-ID elsewhere); the get is answered
    expect(s.v).toMatch(/^retry: 1000\n\nid: 1\nevent: created\n/);
    expect(s.v).not.toContain('event: error');
    expect(s.ms).toBeLessThan(3_000);
    expect([g.v.status, g.v.body.status, g.ms < 3_000]).toEqual([200, 'pending', true]);
    expect(exitMs).toBeLessThan(5_000);
    await restartApp(e2e, 'gateway');
    expect((await call(e2e, 'GET', `/v1/tasks/${task.id}`, { token: alice })).body.status).toBe('pending');
  }, 60_000);
});
