import type pg from 'pg';
import { jetstream, jetstreamManager, type ConsumerInfo, type JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { RESOURCE_EVENT_TYPES } from '@agentplane/contracts';
import { OUTBOX_CREATED_AT_HEADER, eventsStreamName } from '@agentplane/messaging';
import type { TestDatabase } from '@agentplane/persistence';
import { connectAs, ensureTestEventsStream, testPrefix, type RunningService } from '@agentplane/testing';
import { ACME, ALICE, BOB, GLOBEX, agentRef, taskRef } from './constants.js';
import { authzDatabase, metric, sql, startAuthz, tuplesOf, waitFor } from './setup.js';

describe('resource events from JetStream: what reaches the consumer, in which order, and in batches', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let tasks: NatsConnection;
  let hooks: NatsConnection;
  let ops: NatsConnection;
  let js: JetStreamClient;
  let pgc: pg.Client;
  const prefix = testPrefix('authz_delivery');
  const DURABLE = 'authz-proxy';
  const ACK_WAIT_MS = 3000;

  type EventType = 'resource_registered' | 'resource_deregistered' | 'resource_reparented' | 'task_updated';
  const publish = (type: EventType, payload: object | string, msgID: string) =>
    js.publish(`${prefix}events.tasks.${type}`, typeof payload === 'string' ? payload : JSON.stringify(payload), { msgID });
  /** As the tasks outbox relay publishes: with the time its outbox row was written. */
  const publishWritten = (at: Date, type: EventType, payload: object, msgID: string) => {
    const h = natsHeaders();
    h.set(OUTBOX_CREATED_AT_HEADER, at.toISOString());
    return js.publish(`${prefix}events.tasks.${type}`, JSON.stringify(payload), { msgID, headers: h });
  };
  const events = (outcome: string) => metric(svc, 'authz_events_total', { outcome });
  /** The stream's consumers of the durable (one per event type on nats-server < 2.10). */
  const consumers = async (): Promise<ConsumerInfo[]> => {
    const all = await (await jetstreamManager(ops)).consumers.list(eventsStreamName(prefix)).next();
    return all.filter((c) => c.name === DURABLE || c.name.startsWith(`${DURABLE}_`));
  };
  const ackPending = async () => (await consumers()).reduce((n, c) => n + c.num_ack_pending, 0);
  /** Deliveries so far, redeliveries included. */
  const deliveries = async () => (await consumers()).reduce((n, c) => n + c.delivered.consumer_seq, 0);
  /** How many transactions committed the applied-event ids (recorded by a trigger, see beforeAll). */
  const transactionsOf = async (ids: string[]) =>
    Number((await pgc.query<{ n: string }>('SELECT count(DISTINCT xid) AS n FROM event_xacts WHERE event_id = ANY($1)', [ids])).rows[0]?.n);

  /**
   * Publishes events while the consumer is held on a first one (its resource lock is taken here), so that they are
   * delivered and buffered together, then lets it go on: the consumer then has them all in hand at once.
   */
  let gates = 0;
  async function together(publishAll: () => Promise<number>): Promise<void> {
    const gate = agentRef(`9${++gates}`);
    await pgc.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [`authz:resource:${gate}`]);
    try {
      await publish('resource_registered', { resource: gate, tenant: ACME }, `gate-${gates}`);
      await waitFor(async () => Number((await pgc.query("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")).rows[0].n), (n) => n > 0);
      const n = await publishAll();
      expect(await waitFor(ackPending, (p) => p === n + 1)).toBe(n + 1);
    } finally {
      await pgc.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [`authz:resource:${gate}`]);
    }
  }

  beforeAll(async () => {
    db = await authzDatabase();
    pgc = await sql(db);
    await pgc.query(`CREATE TABLE event_xacts (event_id text PRIMARY KEY, xid bigint NOT NULL);
      CREATE FUNCTION record_xact() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO event_xacts VALUES (NEW.event_id, txid_current()); RETURN NEW; END $$;
      CREATE TRIGGER record_xact AFTER INSERT ON applied_events FOR EACH ROW EXECUTE FUNCTION record_xact();`);
    tasks = await connectAs('tasks', 'batch-test-tasks');
    hooks = await connectAs('hook-registry', 'batch-test-hooks');
    ops = await connectAs('ops', 'batch-test-ops');
    await ensureTestEventsStream(prefix); // as ops: a service identity may not create it
    js = jetstream(tasks);
    svc = await startAuthz(db, prefix, { AUTHZ_EVENTS: 'on', AUTHZ_EVENTS_DURABLE: DURABLE, AUTHZ_EVENTS_ACK_WAIT_MS: String(ACK_WAIT_MS) });
  });

  afterAll(async () => {
    await pgc?.end();
    await svc?.close();
    await Promise.all([tasks?.drain(), hooks?.drain(), ops?.drain()]);
    await db?.drop();
  });

  it('is delivered only the event types it applies: the server filters out task_updated (one per task transition)', async () => {
    for (let i = 0; i < 30; i++) await publish('task_updated', { id: taskRef(i), status: 'queued' }, `tu-${i}`);
    await publish('resource_registered', { resource: agentRef(1), tenant: ACME }, 'a-1');
    await waitFor(() => tuplesOf(pgc, agentRef(1)), (t) => t.length === 1);
    await new Promise((r) => setTimeout(r, 300));
    const stream = await (await jetstreamManager(ops)).streams.info(eventsStreamName(prefix), { subjects_filter: '>' });
    const bySubject = Object.entries(stream.state.subjects ?? {});
    const applicable = bySubject.filter(([s]) => (Object.values(RESOURCE_EVENT_TYPES) as string[]).includes(s.split('.').pop() ?? '')).reduce((n, [, c]) => n + c, 0);
    expect(bySubject.find(([s]) => s.endsWith('.task_updated'))?.[1]).toBe(30);
    const all = await consumers();
    // everything ever delivered to this instance: the resource events, not one of the 30 others
    expect(all.reduce((n, c) => n + c.delivered.consumer_seq, 0)).toBe(applicable);
    expect(all.every((c) => c.num_ack_pending === 0 && c.num_pending === 0)).toBe(true);
    expect(await metric(svc, 'authz_events_total', { type: 'task_updated' })).toBe(0);
  });

  it('applies the events that arrive together in one transaction, each once, parents before children within the batch', async () => {
    const applied = async () => (await events('applied')) + (await events('stale'));
    const before = await applied();
    const duplicates = await events('duplicate');
    const ids: string[] = [];
    await together(async () => {
      for (let i = 0; i < 8; i++) {
        await publish('resource_registered', { resource: agentRef(100 + i), tenant: ACME, owner: `user:${ALICE}` }, `b-agent-${i}`);
        await publish('resource_registered', { resource: taskRef(100 + i), tenant: ACME, owner: `user:${BOB}`, parent: agentRef(100 + i) }, `b-task-${i}`);
        ids.push(`b-agent-${i}`, `b-task-${i}`);
      }
      // the same registration again under another event id, and a registration and deregistration of one resource
      // (on two consumers before nats-server 2.10: in either order, the deregistration wins)
      await publish('resource_registered', { resource: agentRef(100), tenant: ACME, owner: `user:${ALICE}` }, 'b-again');
      await publish('resource_registered', { resource: agentRef(120), tenant: GLOBEX }, 'b-gone');
      await publish('resource_deregistered', { resource: agentRef(120) }, 'b-gone-dereg');
      ids.push('b-again', 'b-gone', 'b-gone-dereg');
      return ids.length;
    });
    expect(await waitFor(applied, (n) => n >= before + ids.length + 1)).toBe(before + ids.length + 1); // + the gate
    expect(await transactionsOf(ids)).toBe(1);
    expect(await events('duplicate')).toBe(duplicates);
    for (let i = 0; i < 8; i++) {
      expect(await tuplesOf(pgc, agentRef(100 + i))).toEqual([`owner@user:${ALICE}`, `tenant@tenant:${ACME}`]);
      expect(await tuplesOf(pgc, taskRef(100 + i))).toEqual([`owner@user:${BOB}`, `parent@${agentRef(100 + i)}`, `tenant@tenant:${ACME}`]);
    }
    expect(await tuplesOf(pgc, agentRef(120))).toEqual([]);
    expect((await pgc.query('SELECT 1 FROM applied_events WHERE event_id = ANY($1)', [ids])).rowCount).toBe(ids.length);
    expect(await waitFor(ackPending, (n) => n === 0)).toBe(0);
  });

  it('applies a batch once when JetStream redelivers it (its transaction outlived the ack wait): the copies are duplicates', async () => {
    const applied = await events('applied');
    const duplicates = await events('duplicate');
    const ids = Array.from({ length: 6 }, (_, i) => `r-${i}`);
    await pgc.query(`CREATE FUNCTION slow_batch() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.event_id = 'r-0' THEN PERFORM pg_sleep(${(ACK_WAIT_MS * 1.5) / 1000}); END IF;
        RETURN NEW;
      END $$`);
    await pgc.query('CREATE TRIGGER slow_batch BEFORE INSERT ON applied_events FOR EACH ROW EXECUTE FUNCTION slow_batch()');
    try {
      await together(async () => {
        for (const [i, id] of ids.entries()) await publish('resource_registered', { resource: agentRef(200 + i), tenant: ACME }, id);
        return ids.length;
      });
      expect(await waitFor(() => events('duplicate'), (n) => n >= duplicates + ids.length, 20_000)).toBeGreaterThanOrEqual(duplicates + ids.length);
    } finally {
      await pgc.query('DROP TRIGGER slow_batch ON applied_events');
    }
    expect(await events('applied')).toBe(applied + ids.length + 1);
    expect(await transactionsOf(ids)).toBe(1);
    expect((await pgc.query('SELECT 1 FROM applied_events WHERE event_id = ANY($1)', [ids])).rowCount).toBe(ids.length);
    for (let i = 0; i < ids.length; i++) expect(await tuplesOf(pgc, agentRef(200 + i))).toEqual([`tenant@tenant:${ACME}`]);
  });

  it('terminates the events of a batch that can never apply (schema, origin, JSON) and applies the others together', async () => {
    const applied = await events('applied');
    const rejected = await events('rejected');
    const delivered = await deliveries();
    const good = ['p-1', 'p-2', 'p-3'];
    await together(async () => {
      await publish('resource_registered', { resource: agentRef(301), tenant: ACME }, 'p-1');
      await publish('resource_registered', { resource: agentRef(304) }, 'p-schema'); // no tenant
      await publish('resource_registered', { resource: agentRef(302), tenant: ACME }, 'p-2');
      await jetstream(hooks).publish(`${prefix}events.hook-registry.resource_registered`, JSON.stringify({ resource: taskRef(300), tenant: ACME }), { msgID: 'p-origin' });
      await publish('resource_registered', 'not json {', 'p-json');
      await publish('resource_registered', { resource: agentRef(303), tenant: ACME }, 'p-3');
      return 6;
    });
    expect(await waitFor(() => events('applied'), (n) => n >= applied + good.length + 1)).toBe(applied + good.length + 1);
    expect(await transactionsOf(good)).toBe(1);
    expect(await waitFor(() => events('rejected'), (n) => n >= rejected + 2)).toBe(rejected + 2);
    expect(await tuplesOf(pgc, taskRef(300))).toEqual([]);
    // terminated, not naked: nothing is left to come back, and nothing came back
    expect(await waitFor(ackPending, (n) => n === 0)).toBe(0);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await deliveries()).toBe(delivered + 7); // the gate and the six, once each
    expect(await events('rejected')).toBe(rejected + 2);
  });

  it('a batch one of whose events the tuples refuse is applied event by event: that one is terminated, its neighbours applied', async () => {
    await publish('resource_registered', { resource: agentRef(400), tenant: ACME, owner: `user:${ALICE}` }, 'c-0');
    await waitFor(() => tuplesOf(pgc, agentRef(400)), (t) => t.length === 2);
    const applied = await events('applied');
    const rejected = await events('rejected');
    const delivered = await deliveries();
    const good = ['c-1', 'c-2', 'c-3'];
    await together(async () => {
      await publish('resource_registered', { resource: agentRef(401), tenant: ACME }, 'c-1');
      await publish('resource_registered', { resource: taskRef(401), tenant: ACME, parent: agentRef(401) }, 'c-2');
      // another owner for a registered resource: CONFLICT, never applicable
      await publish('resource_registered', { resource: agentRef(400), tenant: ACME, owner: `user:${BOB}` }, 'c-conflict');
      await publish('resource_registered', { resource: agentRef(403), tenant: ACME }, 'c-3');
      return 4;
    });
    expect(await waitFor(() => events('applied'), (n) => n >= applied + good.length + 1)).toBe(applied + good.length + 1);
    expect(await events('rejected')).toBe(rejected + 1);
    expect(await tuplesOf(pgc, agentRef(400))).toEqual([`owner@user:${ALICE}`, `tenant@tenant:${ACME}`]);
    expect(await tuplesOf(pgc, taskRef(401))).toEqual([`parent@${agentRef(401)}`, `tenant@tenant:${ACME}`]);
    expect(await tuplesOf(pgc, agentRef(403))).toEqual([`tenant@tenant:${ACME}`]);
    expect((await pgc.query("SELECT 1 FROM applied_events WHERE event_id = 'c-conflict'")).rowCount).toBe(0);
    expect(await waitFor(ackPending, (n) => n === 0)).toBe(0);
    // settled on their first delivery: the failed batch was not sent back to JetStream
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await deliveries()).toBe(delivered + 5);
  });

  describe('events of one resource applied in another order than written (a deregistration overtakes them)', () => {
    const at = (s: number) => new Date(Date.UTC(2030, 0, 1, 0, 0, s));

    it('one at a time: the tuples are as if they had arrived in order', async () => {
      const [p, x, y] = [agentRef(500), agentRef(502), agentRef(501)];
      const [c, c2, q] = [taskRef(503), taskRef(504), agentRef(505)];
      const stale = await events('stale');
      const applied = (n: number) => waitFor(() => events('applied'), (v) => v >= n);
      let n = await events('applied');
      await publishWritten(at(0), 'resource_registered', { resource: p, tenant: ACME }, 'o-p');
      await publishWritten(at(0), 'resource_registered', { resource: y, tenant: ACME }, 'o-y');
      await applied((n += 2));
      // x registered at 1 and deregistered at 2; the deregistration arrives first
      await publishWritten(at(2), 'resource_deregistered', { resource: x }, 'o-x-dereg');
      await applied((n += 1));
      await publishWritten(at(1), 'resource_registered', { resource: x, tenant: ACME, owner: `user:${ALICE}` }, 'o-x');
      expect(await waitFor(() => events('stale'), (v) => v > stale)).toBe(stale + 1);
      expect(await tuplesOf(pgc, x)).toEqual([]);
      // a task of p registered at 1, p deregistered at 3, which arrives first: the task still lands under p
      await publishWritten(at(3), 'resource_deregistered', { resource: p }, 'o-p-dereg');
      await applied((n += 1));
      await publishWritten(at(1), 'resource_registered', { resource: c, tenant: ACME, owner: `user:${BOB}`, parent: p }, 'o-c');
      expect(await waitFor(() => tuplesOf(pgc, c), (t) => t.length === 3)).toEqual([`owner@user:${BOB}`, `parent@${p}`, `tenant@tenant:${ACME}`]);
      // y moved under p at 1, deregistered at 2: the move comes last and changes nothing
      await publishWritten(at(2), 'resource_deregistered', { resource: y }, 'o-y-dereg');
      await applied((n += 2));
      await publishWritten(at(1), 'resource_reparented', { resource: y, parent: p }, 'o-y-move');
      expect(await waitFor(() => events('stale'), (v) => v > stale + 1)).toBe(stale + 2);
      expect(await tuplesOf(pgc, y)).toEqual([]);
      // q registered at 1 with a task at 2, deregistered at 3, arriving in reverse: the task waits for q's tenant
      await publishWritten(at(3), 'resource_deregistered', { resource: q }, 'o-q-dereg');
      await publishWritten(at(2), 'resource_registered', { resource: c2, tenant: ACME, parent: q }, 'o-c2');
      await publishWritten(at(1), 'resource_registered', { resource: q, tenant: ACME }, 'o-q');
      expect(await waitFor(() => tuplesOf(pgc, c2), (t) => t.length === 2, 15_000)).toEqual([`parent@${q}`, `tenant@tenant:${ACME}`]);
      expect(await tuplesOf(pgc, q)).toEqual([]);
      // a registration written after the deregistration takes the id back
      await publishWritten(at(4), 'resource_registered', { resource: x, tenant: ACME }, 'o-x-again');
      expect(await waitFor(() => tuplesOf(pgc, x), (t) => t.length === 1)).toEqual([`tenant@tenant:${ACME}`]);
    });

    it('in one batch, in whatever order the consumers hand them over: the same tuples', async () => {
      const [p, x, y] = [agentRef(600), agentRef(602), agentRef(601)];
      const [c, c2, q] = [taskRef(603), taskRef(604), agentRef(605)];
      await publishWritten(at(0), 'resource_registered', { resource: p, tenant: ACME }, 'w-p');
      await publishWritten(at(0), 'resource_registered', { resource: y, tenant: ACME }, 'w-y');
      await waitFor(() => tuplesOf(pgc, y), (t) => t.length === 1);
      await together(async () => {
        await publishWritten(at(2), 'resource_deregistered', { resource: x }, 'w-x-dereg');
        await publishWritten(at(3), 'resource_deregistered', { resource: p }, 'w-p-dereg');
        await publishWritten(at(2), 'resource_deregistered', { resource: y }, 'w-y-dereg');
        await publishWritten(at(3), 'resource_deregistered', { resource: q }, 'w-q-dereg');
        await publishWritten(at(1), 'resource_registered', { resource: x, tenant: ACME, owner: `user:${ALICE}` }, 'w-x');
        await publishWritten(at(1), 'resource_registered', { resource: c, tenant: ACME, owner: `user:${BOB}`, parent: p }, 'w-c');
        await publishWritten(at(2), 'resource_registered', { resource: c2, tenant: ACME, parent: q }, 'w-c2');
        await publishWritten(at(1), 'resource_registered', { resource: q, tenant: ACME }, 'w-q');
        await publishWritten(at(1), 'resource_reparented', { resource: y, parent: p }, 'w-y-move');
        return 9;
      });
      expect(await waitFor(() => tuplesOf(pgc, c2), (t) => t.length === 2, 15_000)).toEqual([`parent@${q}`, `tenant@tenant:${ACME}`]);
      expect(await waitFor(() => tuplesOf(pgc, c), (t) => t.length === 3)).toEqual([`owner@user:${BOB}`, `parent@${p}`, `tenant@tenant:${ACME}`]);
      expect(await waitFor(ackPending, (v) => v === 0, 15_000)).toBe(0);
      for (const gone of [p, x, y, q]) expect(await tuplesOf(pgc, gone)).toEqual([]);
    });
  });
});
