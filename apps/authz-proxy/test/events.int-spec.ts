import type pg from 'pg';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { OUTBOX_CREATED_AT_HEADER } from '@agentplane/messaging';
import type { TestDatabase } from '@agentplane/persistence';
import { connectAs, ensureTestEventsStream, testPrefix, withClockOffset, type RunningService } from '@agentplane/testing';
import { ACME, ALICE, BOB, agentRef, taskRef } from './constants.js';
import { authzDatabase, metric, sql, startAuthz, tuplesOf, waitFor } from './setup.js';

describe('resource events from JetStream (e.g. the tasks outbox)', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let pgc: pg.Client;
  const prefix = testPrefix('authz_events');
  const ACK_WAIT_MS = 1000;

  const publish = (type: 'resource_registered' | 'resource_deregistered' | 'resource_reparented', payload: object, msgID: string) =>
    js.publish(`${prefix}events.tasks.${type}`, JSON.stringify(payload), { msgID });
  const events = (outcome: string) => metric(svc, 'authz_events_total', { outcome });

  beforeAll(async () => {
    db = await authzDatabase();
    nc = await connectAs('tasks', 'events-test-tasks');
    await ensureTestEventsStream(prefix); // as ops: a service identity may not create it
    js = jetstream(nc);
    svc = await startAuthz(db, prefix, { AUTHZ_EVENTS: 'on', AUTHZ_EVENTS_ACK_WAIT_MS: String(ACK_WAIT_MS) });
    pgc = await sql(db);
  });

  afterAll(async () => {
    await pgc?.end();
    await svc?.close();
    // the stream goes with the file's prefixes (tools/jest/cleanup-streams.ts, as the ops identity)
    await nc?.drain();
    await db?.drop();
  });

  it('applies registered and deregistered events', async () => {
    const agent = agentRef(1);
    await publish('resource_registered', { resource: agent, tenant: ACME, owner: `user:${ALICE}` }, 'e-1');
    expect(await waitFor(() => tuplesOf(pgc, agent), (t) => t.length === 2)).toEqual([`owner@user:${ALICE}`, `tenant@tenant:${ACME}`]);
    await publish('resource_deregistered', { resource: agent }, 'e-2');
    expect(await waitFor(() => tuplesOf(pgc, agent), (t) => t.length === 0)).toEqual([]);
  });

  it("measures the registration lag from the outbox row by the database's clock: an instance an hour ahead shows none", async () => {
    const lag = async () => ({
      count: await metric(svc, 'authz_registration_lag_seconds_count', { type: 'resource_registered' }),
      sum: await metric(svc, 'authz_registration_lag_seconds_sum', { type: 'resource_registered' }),
    });
    const agent = agentRef(9);
    await withClockOffset(3_600_000, async () => {
      // a scrape measures the instance's clock against the database's again
      expect(await metric(svc, 'database_clock_skew_seconds')).toBeGreaterThan(3_590);
      const before = await lag();
      // the relay's header: the outbox row's time, written by the owning service's database
      const { rows } = await pgc.query<{ t: Date }>('SELECT now() AS t');
      const h = natsHeaders();
      h.set(OUTBOX_CREATED_AT_HEADER, rows[0]!.t.toISOString());
      await js.publish(`${prefix}events.tasks.resource_registered`, JSON.stringify({ resource: agent, tenant: ACME }), { msgID: 'e-clock', headers: h });
      await waitFor(() => tuplesOf(pgc, agent), (t) => t.length === 1);
      const after = await lag();
      expect(after.count).toBe(before.count + 1);
      expect(after.sum - before.sum).toBeLessThan(5);
    });
  });

  it('applies a redelivered event once: the redelivery finds its id and changes nothing', async () => {
    const agent = agentRef(2);
    // The first delivery outlives the ack wait (a slow database), so JetStream delivers the event again.
    await pgc.query(`CREATE FUNCTION slow_first() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.event_id = 'e-slow' AND NOT EXISTS (SELECT 1 FROM applied_events WHERE event_id = NEW.event_id) THEN
          PERFORM pg_sleep(${(ACK_WAIT_MS * 1.8) / 1000});
        END IF;
        RETURN NEW;
      END $$`);
    await pgc.query('CREATE TRIGGER slow_first BEFORE INSERT ON applied_events FOR EACH ROW EXECUTE FUNCTION slow_first()');
    const applied = await events('applied');
    const duplicates = await events('duplicate');
    try {
      await publish('resource_registered', { resource: agent, tenant: ACME }, 'e-slow');
      expect(await waitFor(() => events('duplicate'), (n) => n > duplicates, 15_000)).toBeGreaterThan(duplicates);
    } finally {
      await pgc.query('DROP TRIGGER slow_first ON applied_events');
    }
    expect(await events('applied')).toBe(applied + 1);
    expect(await tuplesOf(pgc, agent)).toEqual([`tenant@tenant:${ACME}`]);
    const { rows } = await pgc.query("SELECT event_id FROM applied_events WHERE event_id = 'e-slow'");
    expect(rows).toHaveLength(1);
  });

  it('retries an event whose apply failed, with nothing half-written meanwhile (tuples and event id roll back together)', async () => {
    const agent = agentRef(3);
    const task = taskRef(3);
    await publish('resource_registered', { resource: agent, tenant: ACME }, 'e-5');
    await waitFor(() => tuplesOf(pgc, agent), (t) => t.length === 1);
    await pgc.query(`CREATE FUNCTION fail_parent() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'injected failure on the parent tuple'; END $$`);
    await pgc.query(`CREATE TRIGGER fail_parent BEFORE INSERT ON tuples FOR EACH ROW WHEN (NEW.relation = 'parent') EXECUTE FUNCTION fail_parent()`);
    const failed = await events('failed');
    try {
      await publish('resource_registered', { resource: task, tenant: ACME, owner: `user:${BOB}`, parent: agent }, 'e-6');
      await waitFor(() => events('failed'), (n) => n > failed);
      expect(await tuplesOf(pgc, task)).toEqual([]);
      expect((await pgc.query("SELECT 1 FROM applied_events WHERE event_id = 'e-6'")).rowCount).toBe(0);
    } finally {
      await pgc.query('DROP TRIGGER fail_parent ON tuples');
    }
    // redelivered after the backoff, it now applies
    expect(await waitFor(() => tuplesOf(pgc, task), (t) => t.length === 3, 15_000)).toHaveLength(3);
  });

  it('waits for a parent whose registration arrives later, and terminates an event that can never apply', async () => {
    const agent = agentRef(4);
    const task = taskRef(4);
    await publish('resource_registered', { resource: task, tenant: ACME, parent: agent }, 'e-7');
    await publish('resource_registered', { resource: agent, tenant: ACME }, 'e-8');
    expect(await waitFor(() => tuplesOf(pgc, task), (t) => t.length === 2, 15_000)).toEqual([`parent@${agent}`, `tenant@tenant:${ACME}`]);
    const rejected = await events('rejected');
    await publish('resource_registered', { resource: 'not a ref', tenant: ACME }, 'e-9');
    expect(await waitFor(() => events('rejected'), (n) => n > rejected)).toBe(rejected + 1);
  });

  it('moves a resource under another parent (grants and owner stay), and refuses a cycle', async () => {
    const [a, b, c] = [agentRef(10), agentRef(11), agentRef(12)];
    await publish('resource_registered', { resource: a, tenant: ACME }, 'e-20');
    await publish('resource_registered', { resource: b, tenant: ACME, parent: a }, 'e-21');
    await publish('resource_registered', { resource: c, tenant: ACME, owner: `user:${BOB}` }, 'e-22');
    expect(await waitFor(() => tuplesOf(pgc, c), (t) => t.length === 2)).toHaveLength(2);
    await pgc.query("INSERT INTO tuples (resource, relation, subject, tenant_id, resource_type) VALUES ($1, 'read', $2, $3, 'agent')", [c, `user:${ALICE}`, ACME]);
    await publish('resource_reparented', { resource: c, parent: b }, 'e-23');
    expect(await waitFor(() => tuplesOf(pgc, c), (t) => t.includes(`parent@${b}`))).toEqual([`owner@user:${BOB}`, `parent@${b}`, `read@user:${ALICE}`, `tenant@tenant:${ACME}`]);
    // a under c would close a loop (c → b → a): terminated, nothing changes
    const rejected = await events('rejected');
    await publish('resource_reparented', { resource: a, parent: c }, 'e-24');
    expect(await waitFor(() => events('rejected'), (n) => n > rejected)).toBe(rejected + 1);
    expect(await tuplesOf(pgc, a)).toEqual([`tenant@tenant:${ACME}`]);
  });

  describe('events checked by origin (DESIGN §2.1)', () => {
    let hooks: NatsConnection;

    beforeAll(async () => {
      hooks = await connectAs('hook-registry', 'events-test-hooks');
    });

    afterAll(async () => {
      await hooks?.drain();
    });

    it('rejects a task fact stated by hook-registry (counted, tuples unchanged), and still applies its own', async () => {
      const agent = agentRef(30);
      const task = taskRef(30);
      await publish('resource_registered', { resource: agent, tenant: ACME }, 'e-30');
      await publish('resource_registered', { resource: task, tenant: ACME, owner: `user:${BOB}`, parent: agent }, 'e-31');
      expect(await waitFor(() => tuplesOf(pgc, task), (t) => t.length === 3)).toHaveLength(3);
      const rejected = await events('rejected');
      await jetstream(hooks).publish(`${prefix}events.hook-registry.resource_deregistered`, JSON.stringify({ resource: task }), { msgID: 'forged-1' });
      expect(await waitFor(() => events('rejected'), (n) => n > rejected)).toBe(rejected + 1);
      expect(await tuplesOf(pgc, task)).toEqual([`owner@user:${BOB}`, `parent@${agent}`, `tenant@tenant:${ACME}`]);
      // its own kind of resource still goes through
      await jetstream(hooks).publish(`${prefix}events.hook-registry.resource_registered`, JSON.stringify({ resource: 'hook:h-30', tenant: ACME }), { msgID: 'h-30' });
      expect(await waitFor(() => tuplesOf(pgc, 'hook:h-30'), (t) => t.length === 1)).toEqual([`tenant@tenant:${ACME}`]);
    });

    it('a forged Nats-Msg-Id of an earlier event changes nothing', async () => {
      const agent = agentRef(32);
      await publish('resource_registered', { resource: agent, tenant: ACME, owner: `user:${BOB}` }, 'e-32');
      expect(await waitFor(() => tuplesOf(pgc, agent), (t) => t.length === 2)).toHaveLength(2);
      const before = (await events('rejected')) + (await events('duplicate')) + (await events('applied'));
      // hook-registry replays the tasks event's id on a deregistration of its own subject space and of the agent
      await jetstream(hooks).publish(`${prefix}events.hook-registry.resource_deregistered`, JSON.stringify({ resource: agent }), { msgID: 'e-32' });
      await new Promise((r) => setTimeout(r, 500));
      expect(await tuplesOf(pgc, agent)).toEqual([`owner@user:${BOB}`, `tenant@tenant:${ACME}`]);
      const after = (await events('rejected')) + (await events('duplicate')) + (await events('applied'));
      // JetStream dropped it as a duplicate of e-32 within the window: nothing reached the consumer
      expect(after).toBe(before);
    });

    it('hook-registry cannot publish a tasks event at all: the server refuses it', async () => {
      await expect(jetstream(hooks).publish(`${prefix}events.tasks.resource_deregistered`, JSON.stringify({ resource: agentRef(33) }), { timeout: 1000 })).rejects.toThrow();
    });
  });
});
