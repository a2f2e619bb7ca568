import { signDevToken } from '@agentplane/auth';
import { readMetric } from '@agentplane/observability';
import { bootStack, call, waitFor, E2E_SECRET, type E2E } from './harness.js';

const primary = { secret: E2E_SECRET, issuer: 'agentplane', audience: 'agentplane' };
/**
 * The stack's long-poll recheck (1 s by default), and how soon a wake-up must answer a long-poll or reach the SSE
 * stream: well inside one recheck, so an answer that soon is the wake-up's, sent over the bus.
 */
const RECHECK_MS = 5_000;
const WOKEN_WITHIN_MS = 1_000;

interface SseEvent {
  id: string;
  event: string;
  data: { seq: number; type: string; data: Record<string, unknown> };
}

/** Reads a Server-Sent Events response to its end, parsing each event; `onEvent` sees them as they arrive. */
async function readSse(res: Response, onEvent: (e: SseEvent) => void | Promise<void> = () => undefined): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = Object.fromEntries(block.split('\n').filter((l) => l && !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
      if (!fields.event) continue;
      const e = { id: fields.id, event: fields.event, data: JSON.parse(fields.data) };
      events.push(e);
      await onEvent(e);
    }
  }
  return events;
}

/**
 * The worker protocol of DESIGN §4.1 through the gateway, as a worker backend calls it: a service account granted
 * `execute` on an agent claims, heartbeats and completes its tasks; nobody else can, and another tenant sees nothing.
 */
describe('workers through the gateway', () => {
  let e2e: E2E;
  let alice: string;
  let bot: string;
  let carol: string;
  let mallory: string;
  let admin: string;
  let agentId: string;

  beforeAll(async () => {
    e2e = await bootStack('e2e_worker', { TASKS_SWEEP_INTERVAL_MS: '200', TASKS_LONG_POLL_RECHECK_MS: String(RECHECK_MS) });
    alice = await signDevToken({ ...primary, tenant: 'acme', sub: 'alice' });
    bot = await signDevToken({ ...primary, tenant: 'acme', sub: 'worker-bot', serviceAccount: true });
    carol = await signDevToken({ ...primary, tenant: 'acme', sub: 'carol' });
    mallory = await signDevToken({ ...primary, tenant: 'globex', sub: 'mallory', roles: ['admin'] });
    admin = await signDevToken({ ...primary, tenant: 'acme', sub: 'root', roles: ['admin'] });
    const agent = await call(e2e, 'POST', '/v1/agents', { token: alice, body: { name: 'builder', maxConcurrency: 5 } });
    expect(agent.body).toMatchObject({ name: 'builder', maxConcurrency: 5 });
    agentId = agent.body.id;
    // a tenant admin grants the worker's service account `execute` on the agent, once the agent is registered
    const grant = await waitFor(
      () => call(e2e, 'POST', '/v1/authz/grants', { token: admin, body: { subject: 'service_account:worker-bot', action: 'execute', resource: `agent:${agentId}` } }),
      (r) => r.status === 201,
      15_000,
    );
    expect(grant.status).toBe(201);
  }, 90_000);

  afterAll(async () => {
    await e2e?.stop();
  });

  const createTask = async (name: string, extra: object = {}) => {
    const res = await call(e2e, 'POST', '/v1/tasks', { token: alice, body: { agentId, name, ...extra } });
    expect(res.status).toBe(201);
    return res.body as { id: string };
  };
  /** The task's registration (parent: the agent) has landed: the agent's grants now decide on the task itself. */
  const registered = (id: string) =>
    waitFor(
      () => call(e2e, 'POST', '/v1/authz/check', { token: bot, body: { action: 'execute', resource: `task:${id}` } }).then((r) => r.body?.allowed),
      (a) => a === true,
      15_000,
    );

  it('claims, heartbeats and completes with an execute grant; a stale token is 409 lease_lost', async () => {
    // claimed and worked on at once, before the task's own registration can have landed: the agent's grant decides
    const task = await createTask('build-1', { params: { ref: 'main' }, retry: { initialIntervalMs: 1, maximumIntervalMs: 1 } });

    const claimed = await call(e2e, 'POST', `/v1/agents/${agentId}/claims`, { token: bot, body: { workerId: 'host-1' } });
    expect(claimed.status).toBe(200);
    expect(claimed.body.items).toHaveLength(1);
    const first = claimed.body.items[0];
    expect(first).toMatchObject({ id: task.id, status: 'running', attempt: 1, workerId: 'host-1', params: { ref: 'main' } });

    const hb = await call(e2e, 'POST', `/v1/tasks/${task.id}/heartbeat`, { token: bot, body: { leaseToken: first.leaseToken, progress: { pct: 50 } } });
    expect(hb.status).toBe(200);
    expect(hb.body).toMatchObject({ cancelRequested: false });

    const failed = await call(e2e, 'POST', `/v1/tasks/${task.id}/fail`, { token: bot, body: { leaseToken: first.leaseToken, error: { message: 'network' } } });
    expect(failed.body).toMatchObject({ status: 'pending', attempt: 1 });
    const second = await waitFor(
      () => call(e2e, 'POST', `/v1/agents/${agentId}/claims`, { token: bot, body: { workerId: 'host-2' } }),
      (r) => r.body.items?.length === 1,
      5_000,
    );
    expect(second.body.items[0]).toMatchObject({ id: task.id, attempt: 2, workerId: 'host-2' });

    const stale = await call(e2e, 'POST', `/v1/tasks/${task.id}/complete`, { token: bot, body: { leaseToken: first.leaseToken, result: { ok: false } } });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'CONFLICT', details: { reason: 'lease_lost' } });

    const done = await call(e2e, 'POST', `/v1/tasks/${task.id}/complete`, { token: bot, body: { leaseToken: second.body.items[0].leaseToken, result: { ok: true } } });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'completed', attempt: 2, result: { ok: true }, progress: { pct: 50 } });

    const events = await call(e2e, 'GET', `/v1/tasks/${task.id}/events?limit=3`, { token: alice });
    expect(events.status).toBe(200);
    expect(events.body.items.map((e: { type: string }) => e.type)).toEqual(['created', 'claimed', 'progress']);
    const rest = await call(e2e, 'GET', `/v1/tasks/${task.id}/events?after=${events.body.nextAfter}`, { token: alice });
    expect(rest.body.items.map((e: { type: string }) => e.type)).toEqual(['retry_scheduled', 'claimed', 'completed']);
    expect(rest.body.nextAfter).toBeNull();

    const stats = await call(e2e, 'GET', `/v1/agents/${agentId}/stats`, { token: alice });
    expect(stats.body).toMatchObject({ completed: 1 });
  });

  it('completes and claims the next task in one call (`next`); a next the caller may not claim is empty and the complete stands', async () => {
    const agent = await call(e2e, 'POST', '/v1/agents', { token: alice, body: { name: 'next-builder' } });
    const nextAgent = agent.body.id as string;
    const granted = await waitFor(
      () => call(e2e, 'POST', '/v1/authz/grants', { token: admin, body: { subject: 'service_account:worker-bot', action: 'execute', resource: `agent:${nextAgent}` } }),
      (r) => r.status === 201,
      15_000,
    );
    expect(granted.status).toBe(201);
    const make = async (name: string) => (await call(e2e, 'POST', '/v1/tasks', { token: alice, body: { agentId: nextAgent, name } })).body as { id: string };
    const [a, b] = [await make('next-1'), await make('next-2')];
    const claimed = await call(e2e, 'POST', `/v1/agents/${nextAgent}/claims`, { token: bot, body: { workerId: 'host-n' } });
    const first = claimed.body.items[0];
    expect(first.id).toBe(a.id);

    const done = await call(e2e, 'POST', `/v1/tasks/${a.id}/complete`, { token: bot, body: { leaseToken: first.leaseToken, next: { workerId: 'host-n', max: 1 } } });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ id: a.id, status: 'completed' });
    expect(done.body.next).toHaveLength(1);
    const second = done.body.next[0];
    expect(second).toMatchObject({ id: b.id, status: 'running', attempt: 1, workerId: 'host-n' });

    // carol may execute b itself (a grant on the task), not claim the agent's tasks: her `next` is empty, her complete stands
    const onTask = await waitFor(
      () => call(e2e, 'POST', '/v1/authz/grants', { token: admin, body: { subject: 'user:carol', action: 'execute', resource: `task:${b.id}` } }),
      (r) => r.status === 201,
      15_000,
    );
    expect(onTask.status).toBe(201);
    const c = await make('next-3');
    const byCarol = await call(e2e, 'POST', `/v1/tasks/${b.id}/complete`, { token: carol, body: { leaseToken: second.leaseToken, next: { workerId: 'carol-host', max: 1 } } });
    expect(byCarol.status).toBe(200);
    expect(byCarol.body).toMatchObject({ id: b.id, status: 'completed', next: [] });
    expect((await call(e2e, 'GET', `/v1/tasks/${c.id}`, { token: alice })).body).toMatchObject({ status: 'pending', attempt: 0 });
  });

  it('long-polls a claim through the gateway and answers GET ?waitMs once the task ends', async () => {
    const polling = call(e2e, 'POST', `/v1/agents/${agentId}/claims`, { token: bot, body: { workerId: 'host-3', waitMs: 15_000 } }).then((r) => ({ r, at: Date.now() }));
    await new Promise((r) => setTimeout(r, 500));
    const task = await createTask('build-2');
    const createdAt = Date.now();
    const { r, at } = await polling;
    expect(r.status).toBe(200);
    expect(r.body.items.map((t: { id: string }) => t.id)).toEqual([task.id]);
    expect(at - createdAt).toBeLessThan(WOKEN_WITHIN_MS);

    const waiting = call(e2e, 'GET', `/v1/tasks/${task.id}?waitMs=10000`, { token: alice }).then((w) => ({ w, at: Date.now() }));
    await new Promise((res) => setTimeout(res, 300));
    expect((await call(e2e, 'POST', `/v1/tasks/${task.id}/complete`, { token: bot, body: { leaseToken: r.body.items[0].leaseToken } })).status).toBe(200);
    const completedAt = Date.now();
    const { w, at: answeredAt } = await waiting;
    expect(w.body).toMatchObject({ id: task.id, status: 'completed' });
    expect(answeredAt - completedAt).toBeLessThan(WOKEN_WITHIN_MS);
  });

  it('a grant revoked while a claim, a GET ?waitMs or a history page waits ends the wait: no task handed out, none shown', async () => {
    const agent = (await call(e2e, 'POST', '/v1/agents', { token: alice, body: { name: 'revocable' } })).body.id as string;
    const temp = await signDevToken({ ...primary, tenant: 'acme', sub: 'temp-bot', serviceAccount: true });
    const dave = await signDevToken({ ...primary, tenant: 'acme', sub: 'dave' });
    const grants = [
      { subject: 'service_account:temp-bot', action: 'execute', resource: `agent:${agent}` },
      { subject: 'user:dave', action: 'read', resource: `agent:${agent}` },
    ];
    for (const body of grants) await waitFor(() => call(e2e, 'POST', '/v1/authz/grants', { token: admin, body }), (r) => r.status === 201, 15_000);
    const first = (await call(e2e, 'POST', '/v1/tasks', { token: alice, body: { agentId: agent, name: 'revocable-1' } })).body.id as string;
    await waitFor(() => call(e2e, 'GET', `/v1/tasks/${first}`, { token: dave }), (r) => r.status === 200, 15_000);
    const [lease] = (await call(e2e, 'POST', `/v1/agents/${agent}/claims`, { token: temp, body: { workerId: 'temp-host' } })).body.items;
    expect(lease.id).toBe(first);

    const claiming = call(e2e, 'POST', `/v1/agents/${agent}/claims`, { token: temp, body: { workerId: 'temp-host', waitMs: 15_000 } });
    const watching = call(e2e, 'GET', `/v1/tasks/${first}?waitMs=15000`, { token: dave });
    const paging = call(e2e, 'GET', `/v1/tasks/${first}/events?after=2&waitMs=15000`, { token: dave });
    // all three past their first access check and waiting before the revocations (a request still on its way would
    // be a request begun before the revocation, which may answer as one)
    const held = async (kind: string) => readMetric(e2e.stack.apps.tasks!.url, 'tasks_long_polls_waiting', { kind });
    await waitFor(async () => [await held('claim'), await held('task')], ([c, t]) => c === 1 && t === 2, 10_000);
    expect([await held('claim'), await held('task')]).toEqual([1, 2]);
    for (const body of grants) expect((await call(e2e, 'DELETE', '/v1/authz/grants', { token: admin, body })).status).toBe(204);
    // the revocations have reached the tasks service's decisions
    await waitFor(() => call(e2e, 'POST', `/v1/agents/${agent}/claims`, { token: temp, body: { workerId: 'temp-host' } }), (r) => r.status === 404, 15_000);
    await waitFor(() => call(e2e, 'GET', `/v1/tasks/${first}`, { token: dave }), (r) => r.status === 404, 15_000);
    // a new task wakes the claim, the end of the first wakes the GET and the page: each looks again, and is refused
    const second = (await call(e2e, 'POST', '/v1/tasks', { token: alice, body: { agentId: agent, name: 'revocable-2' } })).body.id as string;
    expect((await call(e2e, 'POST', `/v1/tasks/${first}/complete`, { token: alice, body: { leaseToken: lease.leaseToken } })).status).toBe(200);
    const answers = await Promise.all([claiming, watching, paging]);
    expect(answers.map((r) => [r.status, r.body.error?.code])).toEqual([[404, 'NOT_FOUND'], [404, 'NOT_FOUND'], [404, 'NOT_FOUND']]);
    expect((await call(e2e, 'GET', `/v1/tasks/${second}`, { token: alice })).body).toMatchObject({ status: 'pending', attempt: 0 });
  });

  it('is 404 for another tenant and for a tenant member who may not read; 403 for one who may read but not execute', async () => {
    const task = await createTask('guarded-run');
    expect(await registered(task.id)).toBe(true);
    const claimed = await call(e2e, 'POST', `/v1/agents/${agentId}/claims`, { token: bot, body: { workerId: 'host-4' } });
    const leaseToken = claimed.body.items[0].leaseToken as string;
    for (const who of [mallory, carol]) {
      for (const [method, path, body] of [
        ['POST', `/v1/agents/${agentId}/claims`, { workerId: 'x' }],
        ['GET', `/v1/agents/${agentId}/stats`, undefined],
        ['POST', `/v1/tasks/${task.id}/heartbeat`, { leaseToken }],
        ['POST', `/v1/tasks/${task.id}/complete`, { leaseToken }],
        ['POST', `/v1/tasks/${task.id}/fail`, { leaseToken, error: { message: 'm' } }],
        ['GET', `/v1/tasks/${task.id}/events`, undefined],
      ] as const) {
        const res = await call(e2e, method, path, { token: who, body });
        expect({ path, status: res.status }).toEqual({ path, status: 404 });
      }
    }
    // carol may read the agent and its tasks, not execute them
    const grant = await call(e2e, 'POST', '/v1/authz/grants', { token: admin, body: { subject: 'user:carol', action: 'read', resource: `agent:${agentId}` } });
    expect(grant.status).toBe(201);
    expect((await call(e2e, 'GET', `/v1/agents/${agentId}/stats`, { token: carol })).status).toBe(200);
    expect((await call(e2e, 'POST', `/v1/agents/${agentId}/claims`, { token: carol, body: { workerId: 'x' } })).status).toBe(403);
    expect((await call(e2e, 'POST', `/v1/tasks/${task.id}/complete`, { token: carol, body: { leaseToken } })).status).toBe(403);
    const listed = await call(e2e, 'GET', '/v1/agents', { token: carol });
    expect(listed.body.items.map((a: { id: string }) => a.id)).toEqual([agentId]);
    expect((await call(e2e, 'GET', '/v1/agents', { token: mallory })).body.items).toEqual([]);
    // the task is untouched
    expect((await call(e2e, 'GET', `/v1/tasks/${task.id}`, { token: alice })).body).toMatchObject({ status: 'running', result: null });
  });

  it('streams a task\'s events as SSE, live until it ends, and resumes after Last-Event-ID', async () => {
    const task = await createTask('streamed');
    const sse = (headers: Record<string, string> = {}) =>
      fetch(`${e2e.url}/v1/tasks/${task.id}/events`, { headers: { authorization: `Bearer ${alice}`, accept: 'text/event-stream', ...headers } });
    const res = await sse({ 'x-request-id': `sse-${task.id}` });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    // the stream says its request id too, though it writes its own head, and every reply's headers
    expect(res.headers.get('x-request-id')).toBe(`sse-${task.id}`);
    expect([res.headers.get('cache-control'), res.headers.get('x-content-type-options'), res.headers.get('x-frame-options')]).toEqual(['no-store', 'nosniff', 'DENY']);
    // a HEAD of the stream is its head alone, at once: not a stream held open (bodiless) until the task ends
    const head = await fetch(`${e2e.url}/v1/tasks/${task.id}/events`, { method: 'HEAD', headers: { authorization: `Bearer ${alice}`, accept: 'text/event-stream' }, signal: AbortSignal.timeout(3_000) });
    expect([head.status, head.headers.get('content-type'), await head.text()]).toEqual([200, 'text/event-stream; charset=utf-8', '']);
    let leaseToken = '';
    // How long after each transition's call answered its event reached the stream: a wake-up's delay, not a recheck's.
    let actedAt: number | undefined;
    const lags: number[] = [];
    const seen = await readSse(res, async (e) => {
      if (actedAt !== undefined) lags.push(Date.now() - actedAt);
      // the worker acts as each event arrives: the stream is live, not a replay at the end
      if (e.event === 'created') {
        const claimed = await call(e2e, 'POST', `/v1/agents/${agentId}/claims`, { token: bot, body: { workerId: 'sse-worker' } });
        leaseToken = claimed.body.items[0].leaseToken;
      }
      if (e.event === 'claimed') await call(e2e, 'POST', `/v1/tasks/${task.id}/heartbeat`, { token: bot, body: { leaseToken, progress: { pct: 10 } } });
      if (e.event === 'progress') await call(e2e, 'POST', `/v1/tasks/${task.id}/complete`, { token: bot, body: { leaseToken, result: 'streamed' } });
      actedAt = Date.now();
    });
    expect(seen.map((e) => [e.id, e.event])).toEqual([['1', 'created'], ['2', 'claimed'], ['3', 'progress'], ['4', 'completed']]);
    expect(lags).toHaveLength(3);
    expect(Math.max(...lags)).toBeLessThan(WOKEN_WITHIN_MS);
    expect(seen[2]!.data).toMatchObject({ seq: 3, type: 'progress', data: { progress: { pct: 10 } } });

    const resumed = await readSse(await sse({ 'last-event-id': '2' }));
    expect(resumed.map((e) => e.id)).toEqual(['3', '4']);
    expect(await readSse(await sse({ 'last-event-id': '4' }))).toEqual([]);
    const stranger = await fetch(`${e2e.url}/v1/tasks/${task.id}/events`, { headers: { authorization: `Bearer ${mallory}`, accept: 'text/event-stream' } });
    expect(stranger.status).toBe(404);
    expect(((await stranger.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  it('an event stream ends with UNAUTHENTICATED when its token stops being accepted, not at its next event', async () => {
    const task = await createTask('outlived');
    const shortLived = await signDevToken({ ...primary, tenant: 'acme', sub: 'alice', expiresIn: 1 });
    const { exp } = JSON.parse(Buffer.from(shortLived.split('.')[1]!, 'base64url').toString('utf8')) as { exp: number };
    const res = await fetch(`${e2e.url}/v1/tasks/${task.id}/events`, { headers: { authorization: `Bearer ${shortLived}`, accept: 'text/event-stream' } });
    expect(res.status).toBe(200);
    const seen = await readSse(res);
    const endedAt = Date.now();
    expect(seen.map((e) => [e.id, e.event, e.data])).toEqual([
      ['1', 'created', expect.objectContaining({ seq: 1 })],
      [undefined, 'error', { code: 'UNAUTHENTICATED' }],
    ]);
    // at the token's end (exp and the verifiers' 5 s of tolerance), not a page's 10 s later
    expect(endedAt).toBeGreaterThanOrEqual((exp + 5) * 1000 - 50);
    expect(endedAt - (exp + 5) * 1000).toBeLessThan(WOKEN_WITHIN_MS + 1_000);
  }, 30_000);

  it('validates the worker bodies with the field path', async () => {
    const res = await call(e2e, 'POST', `/v1/agents/${agentId}/claims`, { token: bot, body: { workerId: 'w', max: 0 } });
    expect(res.status).toBe(400);
    expect(res.body.error.details.issues[0].path).toBe('max');
    const bad = await call(e2e, 'POST', '/v1/tasks', { token: alice, body: { agentId, name: 'x', maxAttempts: 101 } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.issues[0].path).toBe('maxAttempts');
  });
});
