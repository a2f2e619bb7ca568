import { connect } from 'node:net';
import { signDevToken } from '@agentplane/auth';
import { readMetric } from '@agentplane/observability';
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

  it('while the gateway stops, a claim in flight still gets its answer, and the request behind it on its connection is 503 UNAVAILABLE', async () => {
    const gateway = e2e.stack.apps.gateway!;
    const idle = (await call(e2e, 'POST', '/v1/agents', { token: alice, body: { name: 'idle' } })).body.id as string;
    // one connection: a claim that waits 3 s, and once the stop has begun, a read behind it
    const { port } = new URL(e2e.url);
    const claimBody = JSON.stringify({ workerId: 'w3', waitMs: 3_000 });
    const socket = connect(Number(port), '127.0.0.1');
    let raw = '';
    socket.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.write(`POST /v1/agents/${idle}/claims HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${alice}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(claimBody)}\r\n\r\n${claimBody}`);
    expect(await waitFor(() => readMetric(e2e.stack.apps.tasks!.url, 'tasks_long_polls_waiting', { kind: 'claim' }), (n) => n === 1, 10_000)).toBe(1);
    const exited = new Promise<void>((r) => gateway.child.once('exit', () => r()));
    gateway.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300)); // stopping: its port is closed, this connection still busy
    socket.write(`GET /v1/agents HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${alice}\r\n\r\n`);
    await closed; // the gateway closes the connection after the second answer
    const answers = raw.split(/(?=HTTP\/1\.1 )/);
    expect(answers).toHaveLength(2);
    // the claim was let finish (given up, a task it claimed would reach no worker)
    expect(answers[0]).toMatch(/^HTTP\/1\.1 200 /);
    expect(answers[0]).toContain('{"items":[]}');
    // the read behind it: the API's envelope, told to close and retry elsewhere
    expect(answers[1]).toMatch(/^HTTP\/1\.1 503 /);
    expect(answers[1]).toMatch(/\r\nconnection: close\r\n/i);
    expect(answers[1]).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(answers[1]).toContain('{"error":{"code":"UNAVAILABLE","message":"this instance is stopping: nothing was done; retry the request","details":{"outcome":"not_taken"}}}');
    await exited;
    await restartApp(e2e, 'gateway');
  }, 60_000);
});
