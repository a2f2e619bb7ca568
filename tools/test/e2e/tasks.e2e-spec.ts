import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { signDevToken } from '@agentplane/auth';
import { eventsStreamName } from '@agentplane/messaging';
import { readMetric } from '@agentplane/observability';
import type { RunningApp } from '../../src/stack.js';
import { bootStack, call, natsAs, restartApp, waitFor, E2E_SECRET, sqlQuery, type E2E } from './harness.js';

const primary = { secret: E2E_SECRET, issuer: 'agentplane', audience: 'agentplane' };
const token = (tenant: string, sub: string, roles: string[] = []) => signDevToken({ ...primary, tenant, sub, roles });

async function stopApp(app: RunningApp): Promise<void> {
  if (app.child.exitCode !== null) return;
  const exited = new Promise((r) => app.child.once('exit', r));
  app.child.kill('SIGTERM');
  await exited;
}

const restartAuthz = (e2e: E2E, env: Record<string, string> = {}) => restartApp(e2e, 'authz-proxy', env);

describe('tasks through the gateway, with the authz proxy', () => {
  let e2e: E2E;
  let alice: string;
  let admin: string;
  let agentId: string;

  beforeAll(async () => {
    e2e = await bootStack('e2e_tasks');
    alice = await token('acme', 'alice');
    admin = await token('acme', 'root', ['admin']);
    agentId = (await call(e2e, 'POST', '/v1/agents', { token: alice, body: { name: 'runner' } })).body.id;
    // the agent (the tasks' parent) is registered before the outage begins
    await waitFor(() => sqlQuery(e2e.dbs['authz-proxy']!.url, 'SELECT 1 FROM tuples WHERE resource = $1', [`agent:${agentId}`]).then((r) => r.length), (n) => n > 0, 15_000);
  }, 90_000);

  afterAll(async () => {
    await e2e?.stop();
  });

  it('keeps every task committed while authz-proxy is down, then registers each exactly once when it is back', async () => {
    await stopApp(e2e.stack.apps['authz-proxy']!);
    const created = await Promise.all(
      Array.from({ length: 50 }, (_, i) => call(e2e, 'POST', '/v1/tasks', { token: alice, body: { agentId, name: `offline-${i}` } })),
    );
    expect(created.map((r) => r.status)).toEqual(Array(50).fill(201));
    const ids = created.map((r) => r.body.id as string);
    const rows = await sqlQuery<{ n: number }>(e2e.dbs.tasks!.url, "SELECT count(*)::int AS n FROM tasks WHERE name LIKE 'offline-%'");
    expect(rows[0]!.n).toBe(50);
    // the creator reads its task at once, from the row itself
    expect((await call(e2e, 'GET', `/v1/tasks/${ids[0]}`, { token: alice })).status).toBe(200);

    await restartAuthz(e2e);
    const started = Date.now();
    const registered = await waitFor(
      () =>
        sqlQuery<{ n: number }>(e2e.dbs['authz-proxy']!.url, "SELECT count(DISTINCT resource)::int AS n FROM tuples WHERE resource = ANY($1) AND relation = 'owner'", [
          ids.map((id) => `task:${id}`),
        ]).then((r) => r[0]!.n),
      (n) => n === 50,
      10_000,
    );
    expect(registered).toBe(50);
    expect(Date.now() - started).toBeLessThan(10_000);

    // each task: exactly its tenant, owner and parent tuples, each event applied once
    const tuples = await sqlQuery<{ resource: string; n: number }>(
      e2e.dbs['authz-proxy']!.url,
      'SELECT resource, count(*)::int AS n FROM tuples WHERE resource = ANY($1) GROUP BY resource',
      [ids.map((id) => `task:${id}`)],
    );
    expect(tuples.every((t) => t.n === 3)).toBe(true);
    const decided = await call(e2e, 'POST', '/v1/authz/check', { token: alice, body: { action: 'cancel', resource: `task:${ids[1]}` } });
    expect(decided.body).toMatchObject({ allowed: true });
    const other = await token('globex', 'mallory', ['admin']);
    expect((await call(e2e, 'GET', `/v1/tasks/${ids[1]}`, { token: other })).status).toBe(404);
  });

  it('a relay crash between publish and mark-sent republishes under the same ids: JetStream drops the copies', async () => {
    const nc: NatsConnection = await natsAs(e2e, 'ops');
    try {
      const jsm = await jetstreamManager(nc);
      const stream = eventsStreamName(e2e.prefix);
      const before = (await jsm.streams.info(stream)).state.messages;
      const applied = (await sqlQuery<{ n: number }>(e2e.dbs['authz-proxy']!.url, 'SELECT count(*)::int AS n FROM applied_events'))[0]!.n;
      // as if the relay had published these rows (each a create's task_updated event, its registration in `more`) and
      // died before marking them sent
      const reset = await sqlQuery<{ id: string }>(
        e2e.dbs.tasks!.url,
        `UPDATE outbox SET published_at = NULL, more_published_at = NULL WHERE id IN (
           SELECT id FROM outbox WHERE more @> '[{"subject": "events.tasks.resource_registered"}]' ORDER BY created_at DESC LIMIT 10) RETURNING id`,
      );
      expect(reset).toHaveLength(10);
      await waitFor(
        () => sqlQuery<{ n: number }>(e2e.dbs.tasks!.url, 'SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL').then((r) => r[0]!.n),
        (n) => n === 0,
        10_000,
      );
      expect((await jsm.streams.info(stream)).state.messages).toBe(before);
      await new Promise((r) => setTimeout(r, 500));
      expect((await sqlQuery<{ n: number }>(e2e.dbs['authz-proxy']!.url, 'SELECT count(*)::int AS n FROM applied_events'))[0]!.n).toBe(applied);
    } finally {
      await nc.close();
    }
  });

  it('answers 404 for another tenant and 403 for a readable task the caller may not cancel or delete', async () => {
    const task = (await call(e2e, 'POST', '/v1/tasks', { token: alice, body: { agentId, name: 'guarded' } })).body;
    await waitFor(
      () => call(e2e, 'POST', '/v1/authz/check', { token: alice, body: { action: 'read', resource: `task:${task.id}` } }).then((r) => r.body?.allowed),
      (a) => a === true,
      10_000,
    );
    const mallory = await token('globex', 'mallory', ['admin']);
    for (const [method, path] of [
      ['GET', `/v1/tasks/${task.id}`],
      ['GET', '/v1/tasks/by-name/guarded'],
      ['POST', `/v1/tasks/${task.id}/cancel`],
      ['DELETE', `/v1/tasks/${task.id}`],
    ] as const) {
      expect({ method, path, status: (await call(e2e, method, path, { token: mallory })).status }).toEqual({ method, path, status: 404 });
    }

    const bob = await token('acme', 'bob');
    expect((await call(e2e, 'GET', `/v1/tasks/${task.id}`, { token: bob })).status).toBe(404);
    const grant = await call(e2e, 'POST', '/v1/authz/grants', { token: admin, body: { subject: 'user:bob', action: 'read', resource: `task:${task.id}` } });
    expect(grant.status).toBe(201);
    expect((await call(e2e, 'GET', `/v1/tasks/${task.id}`, { token: bob })).status).toBe(200);
    expect((await call(e2e, 'POST', `/v1/tasks/${task.id}/cancel`, { token: bob })).status).toBe(403);
    expect((await call(e2e, 'DELETE', `/v1/tasks/${task.id}`, { token: bob })).status).toBe(403);
    // bob's list holds the one task he may read
    const list = await call(e2e, 'GET', `/v1/tasks?agentId=${agentId}&limit=100`, { token: bob });
    expect(list.status).toBe(200);
    expect(list.body.items.map((t: { id: string }) => t.id)).toEqual([task.id]);
    // a tenant admin may do anything in the tenant
    expect((await call(e2e, 'POST', `/v1/tasks/${task.id}/cancel`, { token: admin })).body.status).toBe('canceled');
    expect((await call(e2e, 'POST', `/v1/tasks/${task.id}/cancel`, { token: admin })).status).toBe(409);
  });

  it('deletes by name and deregisters that task', async () => {
    const task = (await call(e2e, 'POST', '/v1/tasks', { token: alice, body: { agentId, name: 'short-lived' } })).body;
    const url = e2e.dbs['authz-proxy']!.url;
    await waitFor(() => sqlQuery(url, 'SELECT 1 FROM tuples WHERE resource = $1', [`task:${task.id}`]).then((r) => r.length), (n) => n > 0, 10_000);
    expect((await call(e2e, 'DELETE', '/v1/tasks/by-name/short-lived', { token: alice })).status).toBe(204);
    const left = await waitFor(() => sqlQuery(url, 'SELECT 1 FROM tuples WHERE resource = $1', [`task:${task.id}`]).then((r) => r.length), (n) => n === 0, 10_000);
    expect(left).toBe(0);
    expect((await call(e2e, 'DELETE', '/v1/tasks/by-name/short-lived', { token: alice })).status).toBe(404);
  });

  it('replays a create retried with the same Idempotency-Key', async () => {
    const headers = { 'idempotency-key': 'e2e-task-1' };
    const first = await call(e2e, 'POST', '/v1/tasks', { token: alice, body: { agentId, name: 'keyed' }, headers });
    const again = await call(e2e, 'POST', '/v1/tasks', { token: alice, body: { agentId, name: 'keyed' }, headers });
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    const changed = await call(e2e, 'POST', '/v1/tasks', { token: alice, body: { agentId, name: 'keyed-2' }, headers });
    expect(changed.status).toBe(422);
  });
});

describe('tasks in sync registration mode', () => {
  let e2e: E2E;
  let alice: string;
  let agentId: string;

  beforeAll(async () => {
    // a test-only man in the middle between tasks and authz-proxy (full permissions, this stack only)
    e2e = await bootStack('e2e_sync', { TASKS_AUTHZ_REGISTRATION: 'sync' }, { extraIdentities: { mitm: { publish: ['>'], subscribe: ['>'], allow_responses: true } } });
    alice = await token('acme', 'alice');
    agentId = (await call(e2e, 'POST', '/v1/agents', { token: alice, body: { name: 'runner' } })).body.id;
  }, 90_000);

  afterAll(async () => {
    await e2e?.stop();
  });

  const registered = (id: string) =>
    sqlQuery<{ n: number }>(e2e.dbs['authz-proxy']!.url, 'SELECT count(*)::int AS n FROM tuples WHERE resource = $1', [`task:${id}`]).then((r) => r[0]!.n);

  it('registers inline: the tuples exist when the 201 arrives, registered by the call itself (not the relay)', async () => {
    const tasks = e2e.stack.apps.tasks!;
    const successBefore = await readMetric(tasks.url, 'tasks_authz_registration_total', { op: 'register', outcome: 'success' });
    const res = await call(e2e, 'POST', '/v1/tasks', { token: alice, body: { agentId, name: 'inline' } });
    expect(res.status).toBe(201);
    expect(await registered(res.body.id)).toBe(3);
    expect(await readMetric(tasks.url, 'tasks_authz_registration_total', { op: 'register', outcome: 'success' })).toBe(successBefore + 1);
  });

  it('retries a transient failure and registers once, counting the retry', async () => {
    const tasks = e2e.stack.apps.tasks!;
    const retriesBefore = await readMetric(tasks.url, 'tasks_authz_registration_total', { op: 'register', outcome: 'retry' });
    const successBefore = await readMetric(tasks.url, 'tasks_authz_registration_total', { op: 'register', outcome: 'success' });
    // Between tasks and authz: the first register call answers UNAVAILABLE, later ones reach the real authz-proxy.
    await stopApp(e2e.stack.apps['authz-proxy']!);
    const hidden = `${e2e.prefix.slice(0, -1)}_hidden.`;
    await restartAuthz(e2e, { NATS_SUBJECT_PREFIX: hidden });
    const nc = await natsAs(e2e, 'mitm');
    let registerCalls = 0;
    const sub = nc.subscribe(`${e2e.prefix}authz.v1.>`, {
      callback: (_err, msg) => {
        const verb = msg.subject.slice(`${e2e.prefix}authz.v1.`.length);
        if (verb === 'register' && ++registerCalls === 1) {
          msg.respond(JSON.stringify({ ok: false, error: { code: 'UNAVAILABLE', message: 'injected' } }));
          return;
        }
        nc.request(`${hidden}authz.v1.${verb}`, msg.data, { headers: msg.headers, timeout: 5000 }).then(
          (reply) => msg.respond(reply.data, { headers: reply.headers }),
          () => msg.respond(JSON.stringify({ ok: false, error: { code: 'UNAVAILABLE', message: 'proxy' } })),
        );
      },
    });
    try {
      const res = await call(e2e, 'POST', '/v1/tasks', { token: alice, body: { agentId, name: 'flaky' } });
      expect(res.status).toBe(201);
      expect(registerCalls).toBe(2);
      expect(await registered(res.body.id)).toBe(3);
      expect(await readMetric(tasks.url, 'tasks_authz_registration_total', { op: 'register', outcome: 'retry' })).toBe(retriesBefore + 1);
      expect(await readMetric(tasks.url, 'tasks_authz_registration_total', { op: 'register', outcome: 'success' })).toBe(successBefore + 1);
    } finally {
      sub.unsubscribe();
      await nc.close();
      await stopApp(e2e.stack.apps['authz-proxy']!);
      await restartAuthz(e2e);
    }
  });

  it('after exhausted retries still answers 201, and the relay completes the registration', async () => {
    const tasks = e2e.stack.apps.tasks!;
    const failuresBefore = await readMetric(tasks.url, 'tasks_authz_registration_total', { op: 'register', outcome: 'failure' });
    const retriesBefore = await readMetric(tasks.url, 'tasks_authz_registration_total', { op: 'register', outcome: 'retry' });
    await stopApp(e2e.stack.apps['authz-proxy']!);
    const res = await call(e2e, 'POST', '/v1/tasks', { token: alice, body: { agentId, name: 'exhausted' } });
    expect(res.status).toBe(201);
    expect(await readMetric(tasks.url, 'tasks_authz_registration_total', { op: 'register', outcome: 'failure' })).toBe(failuresBefore + 1);
    expect(await readMetric(tasks.url, 'tasks_authz_registration_total', { op: 'register', outcome: 'retry' })).toBe(retriesBefore + 3);
    expect(await registered(res.body.id)).toBe(0);
    await restartAuthz(e2e);
    expect(await waitFor(() => registered(res.body.id), (n) => n === 3, 10_000)).toBe(3);
  });
});
