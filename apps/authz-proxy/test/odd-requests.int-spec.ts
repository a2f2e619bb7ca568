import type { NatsConnection } from '@nats-io/transport-node';
import type { TestDatabase } from '@agentplane/persistence';
import { NatsCaller, connectAs, serviceAccountToken, testPrefix, userToken, type RunningService } from '@agentplane/testing';
import { ACME, DAVE, SVC, agentRef } from './constants.js';
import { authzDatabase, ok, startAuthz } from './setup.js';

/** Requests at the edge of what authz-proxy takes: each gets an answer, never INTERNAL. */
describe('authz-proxy at the edges of its requests', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let caller: NatsCaller;
  let owner: NatsConnection;
  const prefix = testPrefix('authzodd');
  const t: Record<string, string> = {};

  beforeAll(async () => {
    db = await authzDatabase();
    svc = await startAuthz(db, prefix, { AUTHZ_RESOURCE_FACTS_TIMEOUT_MS: '1000' });
    caller = await NatsCaller.connect(prefix, 'lib-test');
    // the tasks service, with nothing on its way: no row, no pending registration
    owner = await connectAs('tasks', 'authzodd-tasks');
    owner.subscribe(`${prefix}tasks.internal.v1.resource_facts`, { queue: 'tasks', callback: (err, msg) => void (err || msg.respond(JSON.stringify({ ok: true, data: { facts: null } }))) });
    owner.subscribe(`${prefix}tasks.internal.v1.pending_registrations`, {
      queue: 'tasks',
      callback: (err, msg) => void (err || msg.respond(JSON.stringify({ ok: true, data: { registrations: [], truncated: false } }))),
    });
    await owner.flush();
    t.svc = await serviceAccountToken(ACME, SVC);
    t.dave = await userToken(ACME, DAVE);
  });

  afterAll(async () => {
    await owner?.close();
    await caller?.close();
    await svc?.close();
    await db?.drop();
  });

  it('answers a deregistration of what is not registered with its key too, and its retry the same', async () => {
    const resource = agentRef(900);
    await ok(caller, 'authz.v1.register', { resource, tenant: ACME, owner: `user:${DAVE}` }, t.svc!);
    const first = await caller.request('authz.v1.deregister', { resource }, { token: t.svc!, idempotencyKey: 'dereg-900' });
    // the first took effect but its answer was lost: the retry finds nothing registered, under another key too
    const again = await caller.request('authz.v1.deregister', { resource }, { token: t.svc!, idempotencyKey: 'dereg-900-again' });
    const never = await caller.request('authz.v1.deregister', { resource: agentRef(901) }, { token: t.svc!, idempotencyKey: 'dereg-901' });
    expect([first.body, again.body, never.body]).toEqual([
      { ok: true, data: null },
      { ok: true, data: null },
      { ok: true, data: null },
    ]);
    const replay = await caller.request('authz.v1.deregister', { resource: agentRef(901) }, { token: t.svc!, idempotencyKey: 'dereg-901' });
    expect([replay.body, replay.headers['idempotent-replayed']]).toEqual([{ ok: true, data: null }, 'true']);
  });

  it('takes a resource type named like an object\'s own property as a type no one owns', async () => {
    for (const type of ['constructor', '__proto__']) {
      const check = await caller.request('authz.v1.check', { action: 'read', resource: `${type}:x` }, { token: t.dave! });
      expect({ type, body: check.body }).toEqual({ type, body: { ok: true, data: expect.objectContaining({ allowed: false, reason: 'not_found' }) } });
      const lookup = await caller.request('authz.v1.lookup', { action: 'read', type }, { token: t.dave! });
      expect({ type, body: lookup.body }).toEqual({ type, body: { ok: true, data: expect.objectContaining({ items: [] }) } });
    }
  });
});
