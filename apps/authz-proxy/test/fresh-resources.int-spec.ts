import type pg from 'pg';
import type { NatsConnection } from '@nats-io/transport-node';
import type { TestDatabase } from '@agentplane/persistence';
import { NatsCaller, connectAs, serviceAccountToken, testPrefix, userToken, type RunningService } from '@agentplane/testing';
import { ACME, ACME_ADMIN, ALICE, BOB, CAROL, DAVE, GLOBEX, GLOBEX_ADMIN, MALLORY, SVC, agentRef, taskRef } from './constants.js';
import { authzDatabase, errorCode, metric, ok, sql, startAuthz, tuplesOf, decisionOf } from './setup.js';

interface Row {
  tenant: string;
  owner?: string;
  parent?: string;
}

/** The tenant claim of a token, unverified (the fake owner only scopes its answer by it, as the real one does). */
const tenantOf = (authorization: string | undefined) => {
  const payload = (authorization ?? '').replace(/^Bearer /, '').split('.')[1] ?? '';
  return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8') || '{}') as { tid?: string }).tid;
};

/**
 * DESIGN §3, a fresh resource answers like an old one: a resource authz-proxy has no registration for is decided with
 * its owning service's committed row, asked over `tasks.internal.v1.resource_facts` (here answered by a stand-in
 * speaking as the tasks identity, the only one the bus lets serve it).
 */
describe('authz-proxy decides on fresh resources with their owner\'s facts', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let caller: NatsCaller;
  let owner: NatsConnection;
  let pgc: pg.Client;
  const prefix = testPrefix('authz_fresh');
  const rows = new Map<string, Row>();
  /** The owner's registrations still on their way (its outbox), by resource. */
  const outbox = new Map<string, Row>();
  const slow = new Set<string>();
  let slowPending = false;
  const asked: string[] = [];
  const t: Record<string, string> = {};

  const check = async (token: string, action: string, resource: string, subject?: string) =>
    ok<{ allowed: boolean; reason: string; revision?: string }>(caller, 'authz.v1.check', { action, resource, ...(subject ? { subject } : {}) }, token).then(decisionOf);

  beforeAll(async () => {
    db = await authzDatabase();
    svc = await startAuthz(db, prefix, { AUTHZ_RESOURCE_FACTS_TIMEOUT_MS: '1000' });
    caller = await NatsCaller.connect(prefix, 'lib-test');
    pgc = await sql(db);
    owner = await connectAs('tasks');
    owner.subscribe(`${prefix}tasks.internal.v1.resource_facts`, {
      queue: 'tasks',
      callback: (err, msg) => {
        if (err) return;
        const { resource } = msg.json<{ resource: string }>();
        asked.push(resource);
        const row = rows.get(resource) ?? outbox.get(resource); // a registration on its way is of a committed row
        const facts = row && row.tenant === tenantOf(msg.headers?.get('authorization')) ? row : null;
        const answer = () => msg.respond(JSON.stringify({ ok: true, data: { facts } }));
        if (slow.has(resource)) setTimeout(answer, 4_000);
        else answer();
      },
    });
    owner.subscribe(`${prefix}tasks.internal.v1.pending_registrations`, {
      queue: 'tasks',
      callback: (err, msg) => {
        if (err) return;
        const q = msg.json<{ type: string; after?: string; limit: number }>();
        const tenant = tenantOf(msg.headers?.get('authorization'));
        const all = [...outbox.entries()]
          .filter(([r, row]) => row.tenant === tenant && r.startsWith(`${q.type}:`) && r > (q.after ?? ''))
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([resource, row]) => ({ resource, ...row }));
        const answer = () => msg.respond(JSON.stringify({ ok: true, data: { registrations: all.slice(0, q.limit), truncated: all.length > q.limit } }));
        if (slowPending) setTimeout(answer, 4_000);
        else answer();
      },
    });
    await owner.flush();
    t.svc = await serviceAccountToken(ACME, SVC);
    t.bob = await userToken(ACME, BOB);
    t.carol = await userToken(ACME, CAROL);
    t.dave = await userToken(ACME, DAVE);
    t.admin = await userToken(ACME, ACME_ADMIN, { roles: ['admin'] });
    t.globexAdmin = await userToken(GLOBEX, GLOBEX_ADMIN, { roles: ['admin'] });
  });

  afterAll(async () => {
    await owner?.close();
    await pgc?.end();
    await caller?.close();
    await svc?.close();
    await db?.drop();
  });

  it('answers a fresh task under a fresh agent as if both were registered: admin, owner, inherited grant, no relation, other tenant', async () => {
    const agent = agentRef(101);
    const task = taskRef(101);
    rows.set(agent, { tenant: ACME, owner: `user:${ALICE}` });
    rows.set(task, { tenant: ACME, owner: `user:${BOB}`, parent: agent });

    expect(await check(t.admin!, 'write', agent)).toEqual({ allowed: true, reason: 'tenant_admin' });
    expect(await check(t.bob!, 'delete', task)).toEqual({ allowed: true, reason: 'owner' });
    expect(await check(t.bob!, 'admin', task)).toEqual({ allowed: false, reason: 'no_relation' });
    expect(await check(t.dave!, 'read', task)).toEqual({ allowed: false, reason: 'no_relation' });
    expect(await check(t.globexAdmin!, 'read', task)).toEqual({ allowed: false, reason: 'not_found' });
    expect(await check(t.admin!, 'read', task, `user:${ALICE}`)).toEqual({ allowed: false, reason: 'no_relation' });

    // a grant on the fresh agent is accepted, and inherited by its fresh task at once
    await ok(caller, 'authz.v1.grant', { subject: `user:${CAROL}`, action: 'read', resource: agent }, t.admin!);
    expect(await check(t.carol!, 'read', agent)).toEqual({ allowed: true, reason: 'grant' });
    expect(await check(t.carol!, 'read', task)).toEqual({ allowed: true, reason: 'inherited_grant' });
    expect(await check(t.carol!, 'write', task)).toEqual({ allowed: false, reason: 'no_relation' });
    // decided with the owner's facts: no revision, so no service keeps the answer (DESIGN §3, the decision cache)
    expect(await ok(caller, 'authz.v1.check', { action: 'read', resource: task }, t.carol!)).toEqual({ allowed: true, reason: 'inherited_grant' });
    // explain shows the owner's facts as the tuples they will be
    expect(await ok(caller, 'authz.v1.explain', { action: 'read', resource: task }, t.carol!)).toEqual({
      allowed: true,
      reason: 'inherited_grant',
      path: [`${task}#tenant@tenant:${ACME}`, `${task}#parent@${agent}`, `${agent}#read@user:${CAROL}`],
    });
    // nothing about the fresh resources was stored but the grant
    expect(await tuplesOf(pgc, task)).toEqual([]);
    expect(await tuplesOf(pgc, agent)).toEqual([`read@user:${CAROL}`]);

    // the registrations land (the outbox's events): the same answers, and the grant is kept
    await ok(caller, 'authz.v1.register', { resource: agent, tenant: ACME, owner: `user:${ALICE}` }, t.svc!);
    await ok(caller, 'authz.v1.register', { resource: task, tenant: ACME, owner: `user:${BOB}`, parent: agent }, t.svc!);
    rows.clear();
    asked.length = 0;
    expect(await check(t.carol!, 'read', task)).toEqual({ allowed: true, reason: 'inherited_grant' });
    expect(await check(t.bob!, 'delete', task)).toEqual({ allowed: true, reason: 'owner' });
    expect(await check(t.dave!, 'read', task)).toEqual({ allowed: false, reason: 'no_relation' });
    expect(asked).toEqual([]); // registered: the owner is not asked
    expect(await ok(caller, 'authz.v1.check', { action: 'read', resource: task }, t.carol!)).toEqual({ allowed: true, reason: 'inherited_grant', revision: '0.enforce-8' });
  });

  it('inherits a grant on a registered agent down to a fresh task', async () => {
    const agent = agentRef(102);
    const task = taskRef(102);
    await ok(caller, 'authz.v1.register', { resource: agent, tenant: ACME, owner: `user:${ALICE}` }, t.svc!);
    await ok(caller, 'authz.v1.grant', { subject: `user:${CAROL}`, action: 'cancel', resource: agent }, t.admin!);
    rows.set(task, { tenant: ACME, owner: `user:${BOB}`, parent: agent });
    expect(await check(t.carol!, 'cancel', task)).toEqual({ allowed: true, reason: 'inherited_grant' });
    expect(await check(t.dave!, 'cancel', task)).toEqual({ allowed: false, reason: 'no_relation' });
  });

  it('refuses a grant on a resource without a row, and one asked by someone who may not', async () => {
    expect(await errorCode(caller, 'authz.v1.grant', { subject: `user:${CAROL}`, action: 'read', resource: agentRef(103) }, t.admin!)).toBe('NOT_FOUND');
    rows.set(agentRef(104), { tenant: ACME, owner: `user:${ALICE}` });
    expect(await errorCode(caller, 'authz.v1.grant', { subject: `user:${DAVE}`, action: 'read', resource: agentRef(104) }, t.dave!)).toBe('NOT_FOUND');
    expect(await errorCode(caller, 'authz.v1.grant', { subject: `user:${DAVE}`, action: 'read', resource: agentRef(104) }, t.globexAdmin!)).toBe('NOT_FOUND');
    expect(await tuplesOf(pgc, agentRef(104))).toEqual([]);
  });

  it('decides as unregistered when the owner does not answer in time (fail closed, bounded)', async () => {
    rows.set(agentRef(105), { tenant: ACME });
    slow.add(agentRef(105));
    const started = Date.now();
    expect(await check(t.admin!, 'read', agentRef(105))).toEqual({ allowed: false, reason: 'not_found' });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await metric(svc, 'authz_resource_facts_total', { type: 'agent', outcome: 'unavailable' })).toBeGreaterThanOrEqual(1);
    expect(await metric(svc, 'authz_resource_facts_total', { type: 'task', outcome: 'found' })).toBeGreaterThanOrEqual(1);
  });

  describe('lookup lists a resource whose registration is on its way as it will once it has landed', () => {
    const lookup = async (token: string, action: string, type: string, extra: Record<string, unknown> = {}) =>
      ok<{ items: string[]; nextCursor: string | null }>(caller, 'authz.v1.lookup', { action, type, ...extra }, token);
    const T = 'lookups';
    const agent = agentRef(201); // fresh, owned by alice
    const registeredAgent = agentRef(202); // registered, carol may read it
    const mine = taskRef(201); // fresh, under the fresh agent, bob's
    const inherited = taskRef(202); // fresh, under the registered agent, bob's
    const gone = taskRef(203); // registered and deregistered since, its registration still in the window
    const theirs = taskRef(204); // another tenant's

    const u: Record<string, string> = {};

    beforeAll(async () => {
      // a tenant of their own, so that the resources of the tests above are not in their lists
      for (const who of [BOB, CAROL, DAVE, ALICE]) u[who] = await userToken(T, who);
      u.admin = await userToken(T, ACME_ADMIN, { roles: ['admin'] });
      u.svc = await serviceAccountToken(T, SVC);
      await ok(caller, 'authz.v1.register', { resource: registeredAgent, tenant: T, owner: `user:${ALICE}` }, u.svc);
      await ok(caller, 'authz.v1.grant', { subject: `user:${CAROL}`, action: 'read', resource: registeredAgent }, u.admin!);
      outbox.set(agent, { tenant: T, owner: `user:${ALICE}` });
      outbox.set(mine, { tenant: T, owner: `user:${BOB}`, parent: agent });
      outbox.set(inherited, { tenant: T, owner: `user:${BOB}`, parent: registeredAgent });
      outbox.set(gone, { tenant: T, owner: `user:${BOB}`, parent: registeredAgent });
      outbox.set(theirs, { tenant: GLOBEX, owner: `user:${MALLORY}` });
      await pgc.query(`INSERT INTO deregistered_resources (resource, tenant_id, deregistered_at) VALUES ($1, $2, now())`, [gone, T]);
    });

    afterAll(() => outbox.clear());

    it('to its owner, to whoever is granted on its parent, to a tenant admin; to no one else', async () => {
      expect((await lookup(u.bob!, 'delete', 'task')).items).toEqual([mine, inherited]);
      expect((await lookup(u.carol!, 'read', 'task')).items).toEqual([inherited]);
      expect((await lookup(u.dave!, 'read', 'task')).items).toEqual([]);
      expect((await lookup(u.admin!, 'read', 'task')).items).toEqual([mine, inherited]);
      expect((await lookup(t.globexAdmin!, 'read', 'task')).items).toEqual([theirs]);
      expect((await lookup(u.bob!, 'admin', 'task')).items).toEqual([]); // an owner does all but administer
      // asked about another subject, as for themselves
      expect((await lookup(u.admin!, 'read', 'task', { subject: `user:${CAROL}` })).items).toEqual([inherited]);
      // the fresh agent to its owner, with the registered one
      expect((await lookup(u[ALICE]!, 'read', 'agent')).items).toEqual([agent, registeredAgent]);
      // a grant on the fresh agent reaches its fresh task at once
      await ok(caller, 'authz.v1.grant', { subject: `user:${CAROL}`, action: 'read', resource: agent }, u.admin!);
      expect((await lookup(u.carol!, 'read', 'task')).items).toEqual([mine, inherited]);
      // pages as the tuples do
      const first = await lookup(u.carol!, 'read', 'task', { limit: 1 });
      expect(first.items).toEqual([mine]);
      expect((await lookup(u.carol!, 'read', 'task', { limit: 1, cursor: first.nextCursor })).items).toEqual([inherited]);
    });

    it('answers the same once the registrations land: each resource once', async () => {
      const before = await lookup(u.bob!, 'delete', 'task');
      await ok(caller, 'authz.v1.register', { resource: agent, tenant: T, owner: `user:${ALICE}` }, u.svc!);
      await ok(caller, 'authz.v1.register', { resource: mine, tenant: T, owner: `user:${BOB}`, parent: agent }, u.svc!);
      // landed but still listed by the owner (published a moment ago): listed once
      expect(await lookup(u.bob!, 'delete', 'task')).toEqual(before);
      expect((await lookup(u.carol!, 'read', 'task')).items).toEqual([mine, inherited]);
      outbox.delete(mine);
      expect(await lookup(u.bob!, 'delete', 'task')).toEqual(before);
    });

    it('pages through more pending registrations than one lookup considers, each once', async () => {
      const tenant = 'many';
      const admin = await userToken(tenant, 'many-admin', { roles: ['admin'] });
      const made = Array.from({ length: 1_205 }, (_, i) => taskRef(10_000 + i));
      for (const r of made) outbox.set(r, { tenant });
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: { items: string[]; nextCursor: string | null } = await lookup(admin, 'read', 'task', { limit: 500, ...(cursor ? { cursor } : {}) });
        seen.push(...page.items);
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null && pages < 10);
      expect([seen.length, new Set(seen).size, pages]).toEqual([1_205, 1_205, 3]);
      expect(seen).toEqual(made);
      expect(await metric(svc, 'authz_pending_registrations_total', { type: 'task', outcome: 'truncated' })).toBeGreaterThanOrEqual(1);
      // a member's own are the last 25: the first page considers 1,000 of another's, lists none, and goes on after them
      const own = made.slice(-25);
      for (const r of own) outbox.set(r, { tenant, owner: 'user:yuki' });
      const yuki = await userToken(tenant, 'yuki');
      const first = await lookup(yuki, 'read', 'task', { limit: 500 });
      expect([first.items, first.nextCursor === null]).toEqual([[], false]);
      const second = await lookup(yuki, 'read', 'task', { limit: 500, cursor: first.nextCursor });
      expect([second.items, second.nextCursor]).toEqual([own, null]);
      for (const r of made) outbox.delete(r);
    });

    it('lists the registered ones alone when the owner does not answer in time (bounded)', async () => {
      slowPending = true;
      try {
        const started = Date.now();
        expect((await lookup(u.bob!, 'delete', 'task')).items).toEqual([mine]); // registered above; inherited is not yet
        expect(Date.now() - started).toBeLessThan(3_000);
        expect(await metric(svc, 'authz_pending_registrations_total', { type: 'task', outcome: 'unavailable' })).toBeGreaterThanOrEqual(1);
      } finally {
        slowPending = false;
      }
    });
  });
});
