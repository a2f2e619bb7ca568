import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { PoisonMessageError, consumeDurable, deleteEventsStream, ensureEventsStream, eventSubject, eventsStreamName, type ConsumerLogger, type DeliveryMeta } from '../src/index.js';
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
    await settle();
    const info = await consumerInfo(nc, prefix, 'happy');
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
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
    const info = await consumerInfo(nc, prefix, 'flaky');
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
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
    const info = await consumerInfo(nc, prefix, 'poison');
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_redelivered).toBe(0);
    expect(info.delivered.consumer_seq).toBe(3);
    expect(logs.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(
      expect.arrayContaining([expect.stringMatching(/not valid JSON/), expect.stringMatching(/rejected by its handler/)]),
    );
    await c.stop();
  });

  it('matches several filter subjects (filter_subjects, or client-side on nats-server < 2.10)', async () => {
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
