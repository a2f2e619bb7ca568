import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerInfo, type JetStreamClient } from '@nats-io/jetstream';
import {
  PoisonMessageError,
  consumeDurable,
  deleteEventsStream,
  durableConsumers,
  ensureEventsStream,
  eventSubject,
  eventsStreamName,
  hasFilterSubjects,
  type ConsumedEvent,
  type ConsumerLogger,
  type DeliveryMeta,
} from '../src/index.js';
import { consumerInfo, natsConnect, testPrefix, waitFor } from './setup.js';

describe('consumeDurable (JetStream durable pull consumer)', () => {
  const prefix = testPrefix('consume');
  let nc: NatsConnection;
  let js: JetStreamClient;
  const logs: { level: string; msg: string; obj: object }[] = [];
  const logger: ConsumerLogger = {
    warn: (obj, msg) => void logs.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => void logs.push({ level: 'error', obj, msg }),
  };
  const publish = (subject: string, body: string, msgID: string) => js.publish(eventSubject(prefix, subject), body, { msgID });
  const settle = () => new Promise((r) => setTimeout(r, 400));
  /** Acks travel on their own: under load they land after the handler returned, so the server's count is awaited. */
  const allAcked = (durable: string) =>
    waitFor(async () => {
      const info = await consumerInfo(nc, prefix, durable);
      return info.num_ack_pending === 0 && info.num_pending === 0;
    }, 5_000, `${durable}: every delivery acked`);

  beforeAll(async () => {
    nc = await natsConnect('consume-test');
    js = jetstream(nc);
    await ensureEventsStream(nc, prefix);
  });

  afterAll(async () => {
    if (nc) {
      await deleteEventsStream(nc, prefix);
      await nc.drain();
    }
  });

  it('uses the prefixed stream and subjects, and ensureEventsStream is idempotent', async () => {
    expect(eventsStreamName(prefix)).toBe(`${prefix.slice(0, -1)}_EVENTS`);
    expect(eventsStreamName('')).toBe('EVENTS');
    expect(eventSubject(prefix, 'events.tasks.resource_registered')).toBe(`${prefix}events.tasks.resource_registered`);
    await ensureEventsStream(nc, prefix);
    const info = await (await js.jetstreamManager()).streams.info(eventsStreamName(prefix));
    expect(info.config).toMatchObject({ subjects: [`${prefix}events.>`], storage: 'file', duplicate_window: 120_000_000_000 });
    await expect(ensureEventsStream(nc, prefix, { duplicateWindowMs: 1_000 })).rejects.toThrow(/at least/);
  });

  it('hands subject (without prefix), payload and meta to the handler, and acks on success', async () => {
    const seen: { subject: string; payload: unknown; meta: DeliveryMeta }[] = [];
    const c = await consumeDurable({ nc, prefix, durable: 'happy', filterSubjects: ['events.happy.>'], handler: (subject, payload, meta) => void seen.push({ subject, payload, meta }) });
    const ack = await publish('events.happy.done', JSON.stringify({ n: 1 }), 'happy-1');
    await waitFor(() => seen.length === 1, 5_000, 'delivery');
    expect(seen[0]).toMatchObject({ subject: 'events.happy.done', payload: { n: 1 }, meta: { msgId: 'happy-1', deliveryCount: 1, streamSeq: ack.seq } });
    await allAcked('happy');
    await c.stop();
  });

  it('redelivers after a handler failure (nak with backoff) and acks once the handler succeeds', async () => {
    const calls: DeliveryMeta[] = [];
    const c = await consumeDurable({
      nc, prefix, durable: 'flaky', filterSubjects: ['events.flaky.>'], nakBaseDelayMs: 50, logger,
      handler: (_s, _p, meta) => {
        calls.push(meta);
        if (meta.deliveryCount === 1) throw new Error('authz-proxy unavailable');
      },
    });
    await publish('events.flaky.thing', '{"x":1}', 'flaky-1');
    await waitFor(() => calls.length >= 2, 5_000, 'the redelivery');
    await settle();
    expect(calls.map((m) => [m.msgId, m.deliveryCount])).toEqual([['flaky-1', 1], ['flaky-1', 2]]);
    await allAcked('flaky');
    expect(logs.some((l) => l.level === 'warn' && /redelivered/.test(l.msg))).toBe(true);
    await c.stop();
  });

  it('terminates invalid JSON and a PoisonMessageError instead of redelivering them forever', async () => {
    const handled: string[] = [];
    const c = await consumeDurable({
      nc, prefix, durable: 'poison', filterSubjects: ['events.poison.>'], nakBaseDelayMs: 10, ackWaitMs: 1_000, logger,
      handler: (subject, payload, meta) => {
        if ((payload as { bad?: boolean }).bad) throw new PoisonMessageError('schema rejected');
        handled.push(`${subject}:${meta.msgId}:${meta.deliveryCount}`);
      },
    });
    await publish('events.poison.a', 'not json {', 'bad-json');
    await publish('events.poison.b', '{"bad":true}', 'bad-schema');
    await publish('events.poison.c', '{"ok":true}', 'good');
    await waitFor(() => handled.length === 1, 5_000, 'the good message');
    await new Promise((r) => setTimeout(r, 1_500)); // longer than ackWait: a non-terminated message would come back
    expect(handled).toEqual(['events.poison.c:good:1']);
    await allAcked('poison');
    const info = await consumerInfo(nc, prefix, 'poison');
    expect(info.num_redelivered).toBe(0);
    expect(info.delivered.consumer_seq).toBe(3);
    expect(logs.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(
      expect.arrayContaining([expect.stringMatching(/not valid JSON/), expect.stringMatching(/rejected by its handler/)]),
    );
    await c.stop();
  });

  it('matches several filter subjects (filter_subjects, or one consumer per filter on nats-server < 2.10)', async () => {
    const seen: string[] = [];
    const c = await consumeDurable({ nc, prefix, durable: 'multi', filterSubjects: ['events.m.one', 'events.m.two'], handler: (s) => void seen.push(s) });
    await publish('events.m.one', '{}', 'm1');
    await publish('events.m.other', '{}', 'm2');
    await publish('events.m.two', '{}', 'm3');
    await waitFor(() => seen.length >= 2, 5_000, 'both filtered subjects');
    await settle();
    expect(seen).toEqual(['events.m.one', 'events.m.two']);
    await c.stop();
  });

  /** The stream's consumers whose name is the durable's or starts with it (its per-filter consumers). */
  const consumersOf = async (durable: string): Promise<ConsumerInfo[]> => {
    const all = await (await jetstreamManager(nc)).consumers.list(eventsStreamName(prefix)).next();
    return all.filter((c) => c.name === durable || c.name.startsWith(`${durable}_`)).sort((a, b) => a.name.localeCompare(b.name));
  };

  it('several filter subjects: the server filters, so no other event is delivered (before 2.10, one consumer per filter)', async () => {
    const seen: string[] = [];
    const c = await consumeDurable({ nc, prefix, durable: 'only', filterSubjects: ['events.o.one', 'events.o.two'], handler: (s, _p, m) => void seen.push(`${s}:${m.msgId}`) });
    for (let i = 0; i < 20; i++) await publish('events.o.other', '{}', `o-other-${i}`);
    await publish('events.o.one', '{}', 'o1');
    await publish('events.o.two', '{}', 'o2');
    await waitFor(() => seen.length >= 2, 5_000, 'both filtered subjects');
    await settle();
    expect(seen.sort()).toEqual(['events.o.one:o1', 'events.o.two:o2']);
    const consumers = await consumersOf('only');
    expect(consumers.map((i) => i.name)).toEqual(durableConsumers('only', ['events.o.one', 'events.o.two'], hasFilterSubjects(nc)).consumers.map((x) => x.name).sort());
    // delivered to this process: the two events and nothing of the 20 others
    expect(consumers.reduce((n, i) => n + i.delivered.consumer_seq, 0)).toBe(2);
    for (const i of consumers) await allAcked(i.name);
    await c.stop();
  });

  it('refuses filter subjects that overlap (an event would reach the handler twice)', async () => {
    await expect(consumeDurable({ nc, prefix, durable: 'overlap', filterSubjects: ['events.v.*', 'events.*.x'], handler: () => undefined })).rejects.toThrow(/overlap/);
  });

  it('takes over from the catch-all consumer of earlier versions: resumes where its acks end, then deletes it', async () => {
    const stream = eventsStreamName(prefix);
    const jsm = await jetstreamManager(nc);
    // what consumeDurable created for several filters before: `events.>` under the prefix, filtered client-side
    // (deliver new: the stream holds the other tests' events)
    await jsm.consumers.add(stream, { durable_name: 'legacy', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New, ack_wait: 1_000_000_000, filter_subject: eventSubject(prefix, 'events.>') });
    await publish('events.lg.one', '{}', 'lg-1');
    const x = await publish('events.lg.other', '{}', 'lg-x');
    await publish('events.lg.two', '{}', 'lg-2');
    await publish('events.lg.one', '{}', 'lg-3');
    // an instance of the earlier version handled the first two (acked) and had the third in hand (not acked)
    const old = await (await js.consumers.get(stream, 'legacy')).fetch({ max_messages: 3, expires: 2_000 });
    const fetched: string[] = [];
    for await (const m of old) {
      fetched.push(m.headers?.get('Nats-Msg-Id') ?? '');
      if (fetched.at(-1) !== 'lg-2') m.ack();
    }
    expect(fetched).toEqual(['lg-1', 'lg-x', 'lg-2']);
    await nc.flush();
    await waitFor(async () => (await jsm.consumers.info(stream, 'legacy')).ack_floor.stream_seq === x.seq, 5_000, 'the acks');
    await publish('events.lg.two', '{}', 'lg-4');

    const seen: string[] = [];
    const c = await consumeDurable({ nc, prefix, durable: 'legacy', filterSubjects: ['events.lg.one', 'events.lg.two'], ackWaitMs: 1_000, handler: (_s, _p, m) => void seen.push(m.msgId ?? '') });
    await waitFor(() => seen.length >= 3, 5_000, 'the unacked and the new events');
    await settle();
    expect(seen.sort()).toEqual(['lg-2', 'lg-3', 'lg-4']); // not lg-1 (acked before), never lg-x (no filter)
    const consumers = await consumersOf('legacy');
    expect(consumers.map((i) => i.name)).toEqual(durableConsumers('legacy', ['events.lg.one', 'events.lg.two'], hasFilterSubjects(nc)).consumers.map((x) => x.name).sort());
    expect(consumers.some((i) => i.config.filter_subject === eventSubject(prefix, 'events.>'))).toBe(false);
    await c.stop();
  });

  it('two instances starting together take over from the catch-all consumer once, and share the events', async () => {
    const stream = eventsStreamName(prefix);
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add(stream, { durable_name: 'pair', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, filter_subject: eventSubject(prefix, 'events.>') });
    const seen: string[] = [];
    const start = () => consumeDurable({ nc, prefix, durable: 'pair', filterSubjects: ['events.pr.one', 'events.pr.two'], handler: (_s, _p, m) => void seen.push(m.msgId ?? '') });
    const started = await Promise.allSettled([start(), start()]);
    try {
      expect(started.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled']);
      for (let i = 0; i < 10; i++) await publish(i % 2 ? 'events.pr.one' : 'events.pr.two', '{}', `pr-${i}`);
      await waitFor(() => seen.length >= 10, 5_000, 'the events');
      await settle();
      expect(seen.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `pr-${i}`).sort());
      expect((await consumersOf('pair')).map((i) => i.name)).toEqual(durableConsumers('pair', ['events.pr.one', 'events.pr.two'], hasFilterSubjects(nc)).consumers.map((x) => x.name).sort());
    } finally {
      await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)));
    }
  });

  describe('with a batch handler', () => {
    /** Holds the one-at-a-time handler on `msgId` until released, so that the events published meanwhile are buffered together. */
    const gate = (msgId: string) => {
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      let entered!: () => void;
      const inHand = new Promise<void>((r) => (entered = r));
      return { release, inHand, hold: async (m: DeliveryMeta) => void (m.msgId === msgId && (entered(), await released)) };
    };

    it('hands it the events already buffered, at most maxBatch at a time, and settles each by its result', async () => {
      const g = gate('b-gate');
      const batches: ConsumedEvent[][] = [];
      const single: string[] = [];
      const c = await consumeDurable({
        nc, prefix, durable: 'batcher', filterSubjects: ['events.b.>'], maxBatch: 4, nakBaseDelayMs: 10, logger,
        handler: async (_s, _p, m) => {
          await g.hold(m);
          single.push(`${m.msgId}:${m.deliveryCount}`);
        },
        batchHandler: async (events) => {
          batches.push(events);
          return events.map((e) => (e.meta.msgId === 'b-poison' ? new PoisonMessageError('never') : e.meta.msgId === 'b-flaky' && e.meta.deliveryCount === 1 ? new Error('try again') : undefined));
        },
      });
      await publish('events.b.x', '{}', 'b-gate');
      await g.inHand;
      const ids = ['b-0', 'b-1', 'b-poison', 'b-2', 'b-flaky', 'b-3', 'b-4', 'b-5', 'b-6', 'b-7'];
      for (const id of ids) await publish('events.b.x', `{"id":"${id}"}`, id);
      await waitFor(async () => (await consumerInfo(nc, prefix, 'batcher')).num_ack_pending === ids.length + 1, 5_000, 'all delivered');
      g.release();
      // b-flaky comes back after a jittered nak of at most 10 ms: alone (a batch of one goes to the handler), or, when
      // it reaches this process before the last batch is taken, as part of that batch (seen once in 16 loaded runs)
      const redelivered = () => [...single, ...batches.flat().map((e) => `${e.meta.msgId}:${e.meta.deliveryCount}`)].filter((s) => s === 'b-flaky:2');
      await waitFor(() => redelivered().length > 0, 5_000, 'the redelivered event');
      await settle();
      expect(redelivered()).toEqual(['b-flaky:2']);
      const [first, second, ...rest] = batches.map((b) => b.map((e) => `${e.meta.msgId}:${e.meta.deliveryCount}`));
      expect([first, second]).toEqual([ids.slice(0, 4).map((id) => `${id}:1`), ids.slice(4, 8).map((id) => `${id}:1`)]);
      expect(rest[0]!.slice(0, 2)).toEqual(['b-6:1', 'b-7:1']);
      expect(rest.flat().filter((s) => s !== 'b-flaky:2')).toEqual(['b-6:1', 'b-7:1']);
      expect(batches[0]![1]).toMatchObject({ subject: 'events.b.x', payload: { id: 'b-1' }, meta: { msgId: 'b-1', deliveryCount: 1 } });
      expect(single.filter((s) => s !== 'b-flaky:2')).toEqual(['b-gate:1']); // the gate came alone, so to the handler
      await allAcked('batcher');
      const info = await consumerInfo(nc, prefix, 'batcher');
      expect(info.num_redelivered).toBe(0); // b-flaky came back, and is acked; b-poison was terminated
      expect(logs.some((l) => l.level === 'error' && (l.obj as { msgId?: string }).msgId === 'b-poison')).toBe(true);
      await c.stop();
    });

    it('a batch that fails as a whole goes through the handler one event at a time', async () => {
      const g = gate('f-gate');
      const single: string[] = [];
      let failedBatches = 0;
      const c = await consumeDurable({
        nc, prefix, durable: 'fallback', filterSubjects: ['events.f.>'], logger,
        handler: async (_s, payload, m) => {
          await g.hold(m);
          if ((payload as { bad?: boolean }).bad) throw new PoisonMessageError('bad');
          single.push(m.msgId ?? '');
        },
        batchHandler: async () => {
          failedBatches++;
          throw new Error('the transaction failed');
        },
      });
      await publish('events.f.x', '{}', 'f-gate');
      await g.inHand;
      await publish('events.f.x', '{}', 'f-1');
      await publish('events.f.x', 'not json', 'f-json');
      await publish('events.f.x', '{"bad":true}', 'f-bad');
      await publish('events.f.x', '{}', 'f-2');
      await waitFor(async () => (await consumerInfo(nc, prefix, 'fallback')).num_ack_pending === 5, 5_000, 'all delivered');
      g.release();
      await waitFor(() => single.length === 3, 5_000, 'each event');
      await settle();
      expect(failedBatches).toBe(1);
      expect(single).toEqual(['f-gate', 'f-1', 'f-2']);
      await allAcked('fallback');
      const info = await consumerInfo(nc, prefix, 'fallback');
      expect(info.num_redelivered).toBe(0);
      expect(logs.some((l) => l.level === 'warn' && /batch failed/.test(l.msg))).toBe(true);
      await c.stop();
    });

    it('stop() finishes the batch in hand and returns the buffered events, which the durable redelivers', async () => {
      const g = gate('s-gate');
      const applied: string[] = [];
      const opts = {
        nc, prefix, durable: 'batch-stop', filterSubjects: ['events.bs.>'], ackWaitMs: 1_000,
        handler: async (_s: string, _p: unknown, m: DeliveryMeta) => {
          await g.hold(m);
          applied.push(m.msgId ?? '');
        },
        batchHandler: async (events: ConsumedEvent[]) => {
          applied.push(...events.map((e) => e.meta.msgId ?? ''));
          return events.map(() => undefined);
        },
      };
      const c = await consumeDurable(opts);
      await publish('events.bs.x', '{}', 's-gate');
      await g.inHand;
      for (let i = 0; i < 5; i++) await publish('events.bs.x', '{}', `s-${i}`);
      await waitFor(async () => (await consumerInfo(nc, prefix, 'batch-stop')).num_ack_pending === 6, 5_000, 'all delivered');
      const stopped = c.stop();
      g.release();
      await stopped;
      expect(applied).toEqual(['s-gate']);
      const c2 = await consumeDurable(opts);
      // at least once: a returned event may also reach the stopped consumer's last pull, and come back after the ack wait
      await waitFor(() => new Set(applied).size === 6, 5_000, 'the redelivered events');
      await c2.stop();
      expect([...new Set(applied)].sort()).toEqual(['s-0', 's-1', 's-2', 's-3', 's-4', 's-gate']);
    });
  });

  it('stop() finishes the message in hand, stops pulling, and the durable resumes where it left off', async () => {
    const seen: string[] = [];
    let inHandler!: () => void;
    const entered = new Promise<void>((r) => (inHandler = r));
    let finish!: () => void;
    const gate = new Promise<void>((r) => (finish = r));
    const c = await consumeDurable({
      nc, prefix, durable: 'stopper', filterSubjects: ['events.stop.>'],
      handler: async (_s, _p, meta) => {
        if (meta.msgId === 's1') {
          inHandler();
          await gate;
        }
        seen.push(meta.msgId ?? '');
      },
    });
    await publish('events.stop.x', '{}', 's1');
    await publish('events.stop.x', '{}', 's2');
    await entered;
    // s2 delivered to this client too (buffered behind s1), so stop() has it in hand to give back: otherwise it may
    // still be on the wire when the subscription closes and wait out the ack wait before it comes again
    await waitFor(async () => (await consumerInfo(nc, prefix, 'stopper')).num_ack_pending === 2, 5_000, 's1 and s2 delivered');
    const stopped = c.stop();
    finish();
    await stopped;
    await c.done;
    expect(seen[0]).toBe('s1'); // the message in hand was finished and acked
    await publish('events.stop.x', '{}', 's3');
    await settle();
    expect(seen).not.toContain('s3'); // nothing after stop

    const again: string[] = [];
    const c2 = await consumeDurable({ nc, prefix, durable: 'stopper', filterSubjects: ['events.stop.>'], handler: (_s, _p, m) => void again.push(m.msgId ?? '') });
    await waitFor(() => again.includes('s3'), 5_000, 'the resumed durable');
    await settle();
    await c2.stop();
    expect([...seen, ...again].sort()).toEqual(['s1', 's2', 's3']); // each once: s1 was acked before stop
  });

  it('a consumer helper on a missing stream fails loudly', async () => {
    await expect(consumeDurable({ nc, prefix: testPrefix('nostream'), durable: 'x', filterSubjects: ['events.>'], handler: () => undefined })).rejects.toThrow();
  });

  it('de-duplicates a republish with the same Nats-Msg-Id inside the window', async () => {
    const h = natsHeaders();
    const a = await js.publish(eventSubject(prefix, 'events.dup.x'), '{}', { msgID: 'dup-1', headers: h });
    const b = await js.publish(eventSubject(prefix, 'events.dup.x'), '{}', { msgID: 'dup-1' });
    expect(a.duplicate).toBe(false);
    expect(b.duplicate).toBe(true);
    expect(b.seq).toBe(a.seq);
  });
});
