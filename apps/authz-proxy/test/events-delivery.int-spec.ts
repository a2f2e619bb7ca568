import type pg from 'pg';
import { jetstream, jetstreamManager, type ConsumerInfo, type JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { RESOURCE_EVENT_TYPES } from '@agentplane/contracts';
import { OUTBOX_CREATED_AT_HEADER, ensureEventsStream, eventsStreamName } from '@agentplane/messaging';
import type { TestDatabase } from '@agentplane/persistence';
import { connectAs, testPrefix, type RunningService } from '@agentplane/testing';
import { ACME, ALICE, BOB, agentRef, taskRef } from './constants.js';
import { authzDatabase, metric, sql, startAuthz, tuplesOf } from './setup.js';

async function waitFor<T>(get: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await get();
  while (!done(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    v = await get();
  }
  return v;
}

describe('resource events from JetStream: what reaches the consumer, and in which order it is applied', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let tasks: NatsConnection;
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

  beforeAll(async () => {
    db = await authzDatabase();
    pgc = await sql(db);
    tasks = await connectAs('tasks', 'batch-test-tasks');
    ops = await connectAs('ops', 'batch-test-ops');
    await ensureEventsStream(tasks, prefix);
    js = jetstream(tasks);
    svc = await startAuthz(db, prefix, { AUTHZ_EVENTS: 'on', AUTHZ_EVENTS_DURABLE: DURABLE, AUTHZ_EVENTS_ACK_WAIT_MS: String(ACK_WAIT_MS) });
  });

  afterAll(async () => {
    await pgc?.end();
    await svc?.close();
    await Promise.all([tasks?.drain(), ops?.drain()]);
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
  });
});
