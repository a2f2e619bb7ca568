import { headers as natsHeaders, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { connectAs, startTestService, testEnv, testPrefix, userToken, type RunningService } from '@agentplane/testing';
import { loadConfig, SERVICE } from '../src/config.js';
import { AppModule } from '../src/app.module.js';

const TASK = '01a24c70-9942-75ee-b057-9ab6cba03f48';
/** A quiet task: its history pages wait their `waitMs` for an event that does not come. */
const QUIET = '01a24c70-9942-75ee-b057-9ab6cba03f49';
const HISTORY = ['created', 'claimed', 'completed'].map((type, i) => ({ taskId: TASK, seq: i + 1, type, at: '2026-01-01T00:00:00.000Z', data: {} }));

/**
 * `GET /v1/tasks/{id}/events` through the gateway, against a stand-in for the tasks service that answers one event per
 * page (the task completes at seq 3) and holds a quiet task's page for its wait, as tasks does.
 */
describe('task events through the gateway', () => {
  let gw: RunningService;
  let nc: NatsConnection;
  const asked: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    const prefix = testPrefix('gwev');
    nc = await connectAs('lib-test');
    nc.subscribe(`${prefix}tasks.v1.list_events`, {
      callback: (_e, msg: Msg) => {
        const body = msg.json() as { id: string; after: number; waitMs?: number };
        asked.push(body);
        const answer = (data: unknown) => msg.respond(JSON.stringify({ ok: true, data }), { headers: natsHeaders() });
        if (body.id === QUIET) return void setTimeout(() => answer({ items: [], nextAfter: null, status: 'running' }), body.waitMs ?? 0);
        const items = HISTORY.filter((e) => e.seq > body.after).slice(0, 1);
        const last = items[0]?.seq ?? body.after;
        answer({ items, nextAfter: last < 3 && items.length > 0 ? last : null, status: last >= 3 ? 'completed' : 'running' });
      },
    });
    // a short request timeout: a page that waits longer must still be answered (the wait is its budget)
    gw = await startTestService(AppModule.forRoot(loadConfig(testEnv({ NATS_SUBJECT_PREFIX: prefix, NATS_REQUEST_TIMEOUT_MS: '300' }, SERVICE))), {
      service: SERVICE,
      prefix,
      nats: false,
    });
  });
  afterAll(async () => {
    await gw?.close();
    await nc?.drain();
  });

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${gw.url}${path}`, {
      headers: { authorization: `Bearer ${await userToken('acme', 'alice')}`, ...headers },
      signal: AbortSignal.timeout(8_000),
    });
    return { status: res.status, text: await res.text() };
  };
  const sse = (query: string, headers: Record<string, string> = {}) => get(`/v1/tasks/${TASK}/events${query}`, { accept: 'text/event-stream', ...headers });
  const ids = (text: string) => [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));

  it('streams the history after `?after` on every page, and a reconnect with Last-Event-ID resumes after that', async () => {
    expect(ids((await sse('')).text)).toEqual([1, 2, 3]);
    const after = await sse('?after=0');
    expect([after.status, ids(after.text), after.text.includes('event: error')]).toEqual([200, [1, 2, 3], false]);
    expect(ids((await sse('?after=1')).text)).toEqual([2, 3]);
    // what EventSource sends when it reconnects: the same URL, and the last id it saw, which wins
    const resumed = await sse('?after=0', { 'last-event-id': '2' });
    expect([resumed.status, ids(resumed.text)]).toEqual([200, [3]]);
  });

  it('refuses any other query parameter of a stream before it starts, naming it', async () => {
    const res = await sse('?after=0&limit=5');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toMatchObject({ error: { code: 'VALIDATION', details: { issues: [{ path: 'query.limit' }] } } });
  });

  it('gives a page of history that waits its `waitMs`, past the usual request timeout', async () => {
    const started = Date.now();
    const res = await get(`/v1/tasks/${QUIET}/events?after=0&waitMs=1000`);
    expect([res.status, JSON.parse(res.text)]).toEqual([200, { items: [], nextAfter: null, status: 'running' }]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(asked.at(-1)).toMatchObject({ id: QUIET, waitMs: 1000 });
  });
});
