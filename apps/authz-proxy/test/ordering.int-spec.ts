import type pg from 'pg';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { OUTBOX_CREATED_AT_HEADER } from '@agentplane/messaging';
import type { TestDatabase } from '@agentplane/persistence';
import { NatsCaller, connectAs, ensureTestEventsStream, serviceAccountToken, testPrefix, userToken, type RunningService } from '@agentplane/testing';
import { ACME, ACME_ADMIN, ALICE, BOB, CAROL, GLOBEX, SVC, agentRef, taskRef } from './constants.js';
import { authzDatabase, decisionOf, ok, metric, sql, startAuthz, tuplesOf, waitFor } from './setup.js';

/**
 * What the tuples end up as when calls and events about one resource race or arrive out of order: as if they had been
 * applied one at a time in the order they were written.
 */
describe('ordering of grants, registrations, reparents and deregistrations of one resource', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let caller: NatsCaller;
  let pgc: pg.Client;
  let tasksNc: NatsConnection;
  let js: JetStreamClient;
  const prefix = testPrefix('authz_ordering');
  const t: Record<string, string> = {};
  /** The advisory lock a gated grant's INSERT waits for (see beforeAll). */
  const GATE = 7_340_001;

  type EventType = 'resource_registered' | 'resource_deregistered' | 'resource_reparented';
  /** As the tasks outbox relay publishes: with the time its outbox row was written. */
  const publishWritten = (at: Date, type: EventType, payload: object, msgID: string) => {
    const h = natsHeaders();
    h.set(OUTBOX_CREATED_AT_HEADER, at.toISOString());
    return js.publish(`${prefix}events.tasks.${type}`, JSON.stringify(payload), { msgID, headers: h });
  };
  const events = (labels: { outcome: string; type?: EventType }) => metric(svc, 'authz_events_total', labels);
  const applied = async (eventId: string) => (await pgc.query('SELECT 1 FROM applied_events WHERE event_id = $1', [eventId])).rowCount === 1;
  const at = (s: number) => new Date(Date.UTC(2030, 0, 1, 0, 0, s));
  /** Backends of the test database waiting for a lock. */
  const lockWaiters = async () =>
    Number((await pgc.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")).rows[0]?.n);
  const check = async (token: string, action: string, resource: string) =>
    decisionOf(await ok<{ allowed: boolean; reason: string }>(caller, 'authz.v1.check', { action, resource }, token));

  beforeAll(async () => {
    db = await authzDatabase();
    pgc = await sql(db);
    // A grant on a gated resource waits in its INSERT (holding the locks it took before) until the test opens the gate.
    await pgc.query(`CREATE TABLE gated_resources (resource text PRIMARY KEY);
      CREATE FUNCTION gate_grant() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF EXISTS (SELECT 1 FROM gated_resources g WHERE g.resource = NEW.resource) THEN PERFORM pg_advisory_xact_lock_shared(${GATE}); END IF;
          RETURN NEW;
        END $$;
      CREATE TRIGGER gate_grant BEFORE INSERT ON tuples FOR EACH ROW WHEN (NEW.relation NOT IN ('tenant', 'owner', 'parent')) EXECUTE FUNCTION gate_grant();`);
    tasksNc = await connectAs('tasks', 'ordering-test-tasks');
    await ensureTestEventsStream(prefix); // as ops: a service identity may not create it
    js = jetstream(tasksNc);
    // The owning service: no row of any resource not registered (a lookup asks for its pending registrations).
    tasksNc.subscribe(`${prefix}tasks.internal.v1.resource_facts`, {
      queue: 'tasks',
      callback: (err, msg) => {
        if (!err) msg.respond(JSON.stringify({ ok: true, data: { facts: null } }));
      },
    });
    tasksNc.subscribe(`${prefix}tasks.internal.v1.pending_registrations`, {
      queue: 'tasks',
      callback: (err, msg) => {
        if (!err) msg.respond(JSON.stringify({ ok: true, data: { registrations: [], truncated: false } }));
      },
    });
    await tasksNc.flush();
    svc = await startAuthz(db, prefix, { AUTHZ_EVENTS: 'on', AUTHZ_EVENTS_ACK_WAIT_MS: '3000', AUTHZ_RESOURCE_FACTS_TIMEOUT_MS: '1000' });
    caller = await NatsCaller.connect(prefix, 'lib-test');
    t.svc = await serviceAccountToken(ACME, SVC);
    t.globexSvc = await serviceAccountToken(GLOBEX, SVC);
    t.admin = await userToken(ACME, ACME_ADMIN, { roles: ['admin'] });
    t.carol = await userToken(ACME, CAROL);
    t.bob = await userToken(ACME, BOB);
  });

  afterAll(async () => {
    await pgc?.end();
    await caller?.close();
    await svc?.close();
    await tasksNc?.drain();
    await db?.drop();
  });

  describe('a grant racing the deregistration of its resource', () => {
    /**
     * Grants carol `read` on `resource` and, while the grant is held in its INSERT (after whatever it locked), starts
     * `deregister`; opens the gate once the deregistration waits on the grant. Answers the grant's reply.
     */
    async function grantRacing(resource: string, deregister: () => Promise<unknown>): Promise<{ ok: boolean }> {
      await pgc.query('INSERT INTO gated_resources (resource) VALUES ($1)', [resource]);
      await pgc.query('SELECT pg_advisory_lock($1)', [GATE]);
      let open = false;
      try {
        const grant = caller.request('authz.v1.grant', { subject: `user:${CAROL}`, action: 'read', resource }, { token: t.admin!, timeoutMs: 15_000 });
        expect(await waitFor(lockWaiters, (n) => n === 1)).toBe(1);
        const dereg = deregister();
        expect(await waitFor(lockWaiters, (n) => n === 2)).toBe(2);
        await pgc.query('SELECT pg_advisory_unlock($1)', [GATE]);
        open = true;
        await dereg;
        return (await grant).body;
      } finally {
        if (!open) await pgc.query('SELECT pg_advisory_unlock($1)', [GATE]);
      }
    }

    const expectGone = async (agent: string) => {
      expect(await tuplesOf(pgc, agent)).toEqual([]);
      const lookup = await ok<{ items: string[] }>(caller, 'authz.v1.lookup', { action: 'read', type: 'agent' }, t.carol!);
      expect(lookup.items).not.toContain(agent);
      expect(await check(t.carol!, 'read', agent)).toEqual({ allowed: false, reason: 'not_found' });
    };

    it('a deregister call that waited on the grant removes it with the resource', async () => {
      const agent = agentRef(1);
      await ok(caller, 'authz.v1.register', { resource: agent, tenant: ACME, owner: `user:${ALICE}` }, t.svc!);
      const grant = await grantRacing(agent, async () => {
        const res = await caller.request('authz.v1.deregister', { resource: agent }, { token: t.svc!, timeoutMs: 15_000 });
        expect(res.body.ok).toBe(true);
      });
      expect(grant.ok).toBe(true);
      await expectGone(agent);
    });

    it('so does a deregistration event', async () => {
      const agent = agentRef(2);
      await ok(caller, 'authz.v1.register', { resource: agent, tenant: ACME, owner: `user:${ALICE}` }, t.svc!);
      const grant = await grantRacing(agent, () => publishWritten(new Date(), 'resource_deregistered', { resource: agent }, 'a-2-dereg'));
      expect(grant.ok).toBe(true);
      expect(await waitFor(() => applied('a-2-dereg'), (v) => v)).toBe(true);
      await expectGone(agent);
    });
  });

  describe('reparents applied in another order than written', () => {
    it('one written before the parent tuple\'s is stale, also after a move back to the same parent', async () => {
      const [r, p1, p2, p3] = [agentRef(10), agentRef(11), agentRef(12), agentRef(13)];
      for (const [n, p] of [r, p1, p2].entries()) await publishWritten(at(0), 'resource_registered', { resource: p, tenant: ACME }, `b-reg-${n}`);
      for (const n of [0, 1, 2]) await waitFor(() => applied(`b-reg-${n}`), (v) => v);
      const stale = await events({ outcome: 'stale', type: 'resource_reparented' });
      // r moved under p1 at 2 and under p2 at 3; the later move arrives first
      await publishWritten(at(3), 'resource_reparented', { resource: r, parent: p2 }, 'b-move-3');
      await waitFor(() => applied('b-move-3'), (v) => v);
      await publishWritten(at(2), 'resource_reparented', { resource: r, parent: p1 }, 'b-move-2');
      expect(await waitFor(() => applied('b-move-2'), (v) => v)).toBe(true);
      expect(await tuplesOf(pgc, r)).toEqual([`parent@${p2}`, `tenant@tenant:${ACME}`]);
      // under p1 at 5, p2 at 6, p1 again at 7: 5 and 7 arrive first (7 changes no parent, only the tuple's time)
      await publishWritten(at(5), 'resource_reparented', { resource: r, parent: p1 }, 'b-move-5');
      await waitFor(() => applied('b-move-5'), (v) => v);
      await publishWritten(at(7), 'resource_reparented', { resource: r, parent: p1 }, 'b-move-7');
      await waitFor(() => applied('b-move-7'), (v) => v);
      await publishWritten(at(6), 'resource_reparented', { resource: r, parent: p2 }, 'b-move-6');
      expect(await waitFor(() => applied('b-move-6'), (v) => v)).toBe(true);
      expect(await tuplesOf(pgc, r)).toEqual([`parent@${p1}`, `tenant@tenant:${ACME}`]);
      // a late one naming a parent not registered yet is stale at once, not retried until its parent lands
      const failed = await events({ outcome: 'failed', type: 'resource_reparented' });
      await publishWritten(at(4), 'resource_reparented', { resource: r, parent: p3 }, 'b-move-4');
      expect(await waitFor(() => applied('b-move-4'), (v) => v)).toBe(true);
      expect(await events({ outcome: 'stale', type: 'resource_reparented' })).toBe(stale + 3);
      expect(await events({ outcome: 'failed', type: 'resource_reparented' })).toBe(failed);
      expect(await tuplesOf(pgc, r)).toEqual([`parent@${p1}`, `tenant@tenant:${ACME}`]);
    });

    it('a registration\'s parent orders too: a move written before it (then deregistered, taken back) is stale', async () => {
      const [c, p1, p2] = [taskRef(14), agentRef(15), agentRef(16)];
      for (const [n, p] of [p1, p2].entries()) await publishWritten(at(0), 'resource_registered', { resource: p, tenant: ACME }, `b2-reg-${n}`);
      for (const n of [0, 1]) await waitFor(() => applied(`b2-reg-${n}`), (v) => v);
      // c under p1 at 1, moved under p2 at 2, deregistered at 3, registered under p1 again at 4; the move arrives last
      await publishWritten(at(3), 'resource_deregistered', { resource: c }, 'b2-dereg-3');
      await publishWritten(at(4), 'resource_registered', { resource: c, tenant: ACME, parent: p1 }, 'b2-reg-4');
      await waitFor(() => tuplesOf(pgc, c), (x) => x.length === 2);
      await publishWritten(at(2), 'resource_reparented', { resource: c, parent: p2 }, 'b2-move-2');
      expect(await waitFor(() => applied('b2-move-2'), (v) => v)).toBe(true);
      expect(await tuplesOf(pgc, c)).toEqual([`parent@${p1}`, `tenant@tenant:${ACME}`]);
    });
  });

  describe('a registration arriving after its resource\'s deregistration', () => {
    it('a register call after the deregistration event writes nothing (and answers as done)', async () => {
      const task = taskRef(30);
      await publishWritten(new Date(Date.now() - 1000), 'resource_registered', { resource: task, tenant: ACME, owner: `user:${BOB}` }, 'c-30-reg');
      await waitFor(() => tuplesOf(pgc, task), (x) => x.length === 2);
      await publishWritten(new Date(), 'resource_deregistered', { resource: task }, 'c-30-dereg');
      await waitFor(() => tuplesOf(pgc, task), (x) => x.length === 0);
      // e.g. the tasks service's inline register of the create, late
      await ok(caller, 'authz.v1.register', { resource: task, tenant: ACME, owner: `user:${BOB}` }, t.svc!);
      expect(await tuplesOf(pgc, task)).toEqual([]);
      const lookup = await ok<{ items: string[] }>(caller, 'authz.v1.lookup', { action: 'read', type: 'task' }, t.bob!);
      expect(lookup.items).not.toContain(task);
    });

    it('a deregister call is recorded: a later register call or an event written before changes nothing; one written after takes the id back', async () => {
      const task = taskRef(31);
      const registration = { resource: task, tenant: ACME, owner: `user:${BOB}` };
      await ok(caller, 'authz.v1.register', registration, t.svc!);
      await ok(caller, 'authz.v1.deregister', { resource: task }, t.svc!);
      const { rows } = await pgc.query<{ tenant_id: string; deregistered_at: Date }>('SELECT tenant_id, deregistered_at FROM deregistered_resources WHERE resource = $1', [task]);
      expect(rows.map((r) => r.tenant_id)).toEqual([ACME]);
      await ok(caller, 'authz.v1.register', registration, t.svc!);
      expect(await tuplesOf(pgc, task)).toEqual([]);
      const stale = await events({ outcome: 'stale', type: 'resource_registered' });
      await publishWritten(new Date(rows[0]!.deregistered_at.getTime() - 1000), 'resource_registered', registration, 'c-31-late');
      expect(await waitFor(() => events({ outcome: 'stale', type: 'resource_registered' }), (n) => n > stale)).toBe(stale + 1);
      expect(await tuplesOf(pgc, task)).toEqual([]);
      // reconcile --fix of a row that still exists: the service's outbox, written after the deregistration
      await publishWritten(new Date(rows[0]!.deregistered_at.getTime() + 1000), 'resource_registered', registration, 'c-31-again');
      expect(await waitFor(() => tuplesOf(pgc, task), (x) => x.length === 2)).toEqual([`owner@user:${BOB}`, `tenant@tenant:${ACME}`]);
      expect((await pgc.query('SELECT 1 FROM deregistered_resources WHERE resource = $1', [task])).rowCount).toBe(0);
    });
  });

  describe('a parent of another tenant', () => {
    it('a registration or reparent naming one is rejected at once; a missing parent of its own tenant is still waited for', async () => {
      const globexAgent = agentRef(40);
      await ok(caller, 'authz.v1.register', { resource: globexAgent, tenant: GLOBEX }, t.globexSvc!);
      const count = async () => ({
        rejected: (await events({ outcome: 'rejected', type: 'resource_registered' })) + (await events({ outcome: 'rejected', type: 'resource_reparented' })),
        failed: (await events({ outcome: 'failed', type: 'resource_registered' })) + (await events({ outcome: 'failed', type: 'resource_reparented' })),
      });
      const before = await count();
      await publishWritten(at(1), 'resource_registered', { resource: taskRef(40), tenant: ACME, parent: globexAgent }, 'd-40-reg');
      expect(await waitFor(count, (n) => n.rejected > before.rejected)).toEqual({ rejected: before.rejected + 1, failed: before.failed });
      expect(await tuplesOf(pgc, taskRef(40))).toEqual([]);
      const agent = agentRef(41);
      await publishWritten(at(1), 'resource_registered', { resource: agent, tenant: ACME }, 'd-41-reg');
      await waitFor(() => applied('d-41-reg'), (v) => v);
      await publishWritten(at(2), 'resource_reparented', { resource: agent, parent: globexAgent }, 'd-41-move');
      expect(await waitFor(count, (n) => n.rejected > before.rejected + 1)).toEqual({ rejected: before.rejected + 2, failed: before.failed });
      expect(await tuplesOf(pgc, agent)).toEqual([`tenant@tenant:${ACME}`]);
      // acme's own agent 43, registered after its task: the task is retried until it lands
      await publishWritten(at(2), 'resource_registered', { resource: taskRef(42), tenant: ACME, parent: agentRef(43) }, 'd-42-reg');
      expect((await waitFor(count, (n) => n.failed > before.failed)).rejected).toBe(before.rejected + 2);
      await publishWritten(at(1), 'resource_registered', { resource: agentRef(43), tenant: ACME }, 'd-43-reg');
      expect(await waitFor(() => tuplesOf(pgc, taskRef(42)), (x) => x.length === 2, 15_000)).toEqual([`parent@${agentRef(43)}`, `tenant@tenant:${ACME}`]);
      expect((await count()).rejected).toBe(before.rejected + 2);
    });
  });
});
