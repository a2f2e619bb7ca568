import { randomUUID } from 'node:crypto';
import { jest } from '@jest/globals';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import type { PrismaClient } from '@agentplane/db-tasks';
import type { TestDatabase } from '@agentplane/persistence';
import { tasksEvents } from '@agentplane/contracts';
import { MARK_PUBLISHED, OutboxRelay, deleteEventsStream, ensureEventsStream, outboxRow, publishToStream, writeOutbox, writeOutboxEvent, type OutboxClient, type OutboxRow, type OutboxSql } from '../src/index.js';
import { natsConnect, outboxDatabase, prismaOf, recorder, streamMessages, testPrefix, waitFor } from './setup.js';

const SUBJECT = 'events.tasks.resource_registered';

describe('transactional outbox → JetStream', () => {
  const prefix = testPrefix('outbox');
  let db: TestDatabase;
  let prisma: PrismaClient;
  let nc: NatsConnection;
  const relays: OutboxRelay[] = [];
  const clients: PrismaClient[] = [];

  const relay = (opts: Partial<ConstructorParameters<typeof OutboxRelay>[0]> = {}, client: OutboxClient = prisma) => {
    const r = new OutboxRelay({ client, nc, prefix, pollIntervalMs: 50, ...opts });
    relays.push(r);
    return r;
  };

  async function writeCommitted(n: number, tag: string): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i += 50) {
      await prisma.$transaction(async (tx) => {
        for (let j = i; j < Math.min(n, i + 50); j++) ids.push(await writeOutbox(tx, { subject: SUBJECT, payload: { resource: `task:${tag}-${j}`, tenant: 'acme' } }));
      });
    }
    return ids;
  }

  /** The relay's LISTEN connections on the test database once one (other than `except`) is in place (a LISTEN was its last statement). */
  const listening = async (except = 0): Promise<Array<{ pid: number }>> => {
    let found: Array<{ pid: number }> = [];
    await waitFor(async () => {
      found = await prisma.$queryRaw<Array<{ pid: number }>>`
        SELECT pid FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'agentplane-outbox-listen' AND query LIKE 'LISTEN %' AND state = 'idle' AND pid <> ${except}::int`;
      return found.length > 0;
    }, 10_000, 'the relay to LISTEN');
    return found;
  };

  const unpublished = async () => (await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL`)[0].n;

  beforeAll(async () => {
    db = await outboxDatabase();
    prisma = prismaOf(db);
    nc = await natsConnect('outbox-test');
    await ensureEventsStream(nc, prefix);
  });

  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await Promise.all([prisma, ...clients].map((c) => c?.$disconnect()));
    if (nc) {
      await deleteEventsStream(nc, prefix);
      await nc.drain();
    }
    await db?.drop();
  });

  it('publishes a committed event and never one whose transaction rolled back', async () => {
    const { seen, consumer } = await recorder(nc, prefix, 'rollback', ['events.tasks.>']);
    let rolledBackId = '';
    await expect(
      prisma.$transaction(async (tx) => {
        rolledBackId = await writeOutbox(tx, { subject: SUBJECT, payload: { resource: 'task:ghost', tenant: 'acme' } });
        throw new Error('business change failed');
      }),
    ).rejects.toThrow('business change failed');
    const committedId = await prisma.$transaction((tx) =>
      writeOutboxEvent(tx, tasksEvents.resourceRegistered, { resource: 'task:real', tenant: 'acme', owner: 'user:alice' }, { headers: { 'x-request-id': 'req-1' } }),
    );
    const r = relay();
    r.start();
    await waitFor(() => seen.length >= 1, 10_000, 'the committed event');
    await r.stop();
    await new Promise((res) => setTimeout(res, 300));
    await consumer.stop();

    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ subject: SUBJECT, payload: { resource: 'task:real', tenant: 'acme', owner: 'user:alice' }, meta: { msgId: committedId, deliveryCount: 1 } });
    expect(seen.map((s) => s.meta.msgId)).not.toContain(rolledBackId);
    const rows = await prisma.$queryRaw<{ id: string; published: boolean }[]>`SELECT id::text, published_at IS NOT NULL AS published FROM outbox`;
    expect(rows).toEqual([{ id: committedId, published: true }]);
    expect(await streamMessages(nc, prefix)).toBe(1);
  });

  it('delivers 500 rows exactly once with 3 relays (separate pools) claiming concurrently', async () => {
    const before = await streamMessages(nc, prefix);
    const { seen, consumer } = await recorder(nc, prefix, 'three_relays', ['events.tasks.>']);
    const ids = await writeCommitted(500, 'many');
    const registry = new Registry();
    const three = [0, 1, 2].map(() => {
      const c = prismaOf(db, 3);
      clients.push(c);
      return relay({ batchSize: 20, registry }, c);
    });
    three.forEach((r) => r.start());
    await waitFor(async () => (await unpublished()) === 0, 30_000, 'every row published');
    await Promise.all(three.map((r) => r.stop()));
    await waitFor(() => seen.filter((s) => ids.includes(s.meta.msgId ?? '')).length >= 500, 10_000, '500 deliveries');
    await new Promise((res) => setTimeout(res, 500));
    await consumer.stop();

    const got = seen.map((s) => s.meta.msgId ?? '').filter((id) => ids.includes(id));
    expect(got).toHaveLength(500); // no duplicate delivery…
    expect(new Set(got)).toEqual(new Set(ids)); // …and no loss
    expect(await streamMessages(nc, prefix)).toBe(before + 500);
    const published = await registry.getSingleMetricAsString('outbox_published_total');
    expect(published).toContain(`outbox_published_total{subject="${SUBJECT}"} 500`);
    expect(await registry.getSingleMetricAsString('outbox_pending')).toMatch(/outbox_pending 0$/m);
  });

  it('a relay skips rows another relay holds (SKIP LOCKED) instead of waiting for them or publishing them twice', async () => {
    const ids = await writeCommitted(6, 'locked');
    const other = prismaOf(db, 1);
    clients.push(other);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    // Another relay's transaction, mid-publish, holding the three oldest rows.
    const holder = other.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT id FROM outbox WHERE id = ANY(${ids.slice(0, 3)}::uuid[]) FOR UPDATE`;
      locked();
      await held;
    });
    await isLocked;
    const r = await relay({ batchSize: 100 }).relayBatch();
    expect(r).toEqual({ claimed: 3, published: 3, failed: 0 });
    const pending = await prisma.$queryRaw<{ id: string }[]>`SELECT id::text FROM outbox WHERE published_at IS NULL ORDER BY created_at`;
    expect(pending.map((p) => p.id)).toEqual(ids.slice(0, 3));
    release();
    await holder;
    expect(await relay().relayBatch()).toEqual({ claimed: 3, published: 3, failed: 0 });
  });

  it('a crash between publish and mark republishes the same ids, which JetStream de-duplicates', async () => {
    const before = await streamMessages(nc, prefix);
    const { seen, consumer } = await recorder(nc, prefix, 'crash', ['events.tasks.>']);
    const ids = await writeCommitted(10, 'crash');
    // The process "dies" after every PubAck and before the UPDATE … published_at commits.
    const crashing: OutboxClient = {
      $executeRaw: (q, ...v) => prisma.$executeRaw(q, ...v),
      $queryRaw: (q, ...v) => prisma.$queryRaw(q, ...v),
      $executeRawUnsafe: (q, ...v) => prisma.$executeRawUnsafe(q, ...v),
      $queryRawUnsafe: (q, ...v) => prisma.$queryRawUnsafe(q, ...v),
      $transaction: (fn, o) =>
        prisma.$transaction(
          (tx) =>
            fn({
              $queryRaw: (q, ...v) => tx.$queryRaw(q, ...v),
              $executeRaw: (q, ...v) => tx.$executeRaw(q, ...v),
              $queryRawUnsafe: (q, ...v) => tx.$queryRawUnsafe(q, ...v),
              $executeRawUnsafe: (q, ...v) => {
                if (q.includes('SET published_at')) throw new Error('crash before marking published');
                return tx.$executeRawUnsafe(q, ...v);
              },
            } satisfies OutboxSql),
          o,
        ),
    };
    await expect(relay({ batchSize: 100 }, crashing).relayBatch()).rejects.toThrow('crash before marking published');
    const mine = () => seen.filter((s) => ids.includes(s.meta.msgId ?? '')); // the stream holds earlier tests' events too
    await waitFor(() => mine().length >= 10, 10_000, 'the first publication');
    expect(await unpublished()).toBe(10); // the marks rolled back

    const recovered = await relay({ batchSize: 100 }).relayBatch();
    expect(recovered).toEqual({ claimed: 10, published: 10, failed: 0 });
    expect(await unpublished()).toBe(0);
    await new Promise((res) => setTimeout(res, 500));
    await consumer.stop();
    expect(await streamMessages(nc, prefix)).toBe(before + 10);
    expect(mine().map((s) => s.meta.msgId).sort()).toEqual([...ids].sort());
  });

  it("publishes as JetStream's publish does: the stream's ack, a duplicate by Nats-Msg-Id, a refusal, no stream", async () => {
    const subject = `${prefix}events.tasks.resource_deregistered`;
    const id = `pub-${Date.now()}`;
    const first = await publishToStream(nc, subject, JSON.stringify({ resource: 'task:pub' }), { msgID: id, timeout: 2_000 });
    expect(first).toMatchObject({ stream: expect.any(String), duplicate: false });
    expect(first.seq).toBeGreaterThan(0);
    expect(await publishToStream(nc, subject, JSON.stringify({ resource: 'task:pub' }), { msgID: id, timeout: 2_000 })).toEqual({ ...first, duplicate: true });
    // the stream's own refusal ({"error": …}) is an error with its description and code
    const expect0 = natsHeaders();
    expect0.set('Nats-Expected-Last-Sequence', '0');
    await expect(publishToStream(nc, subject, '{}', { msgID: `${id}-b`, headers: expect0, timeout: 2_000 })).rejects.toThrow(/wrong last sequence.*\(10071\)/);
    // no stream captures the subject
    await expect(publishToStream(nc, `${testPrefix('nostream')}events.tasks.x`, '{}', { msgID: `${id}-c`, timeout: 1_000 })).rejects.toThrow(/no responders|timeout/);
  });

  it('refuses a backoff floor above its cap', () => {
    const make = (o: { retryBaseMs?: number; maxBackoffMs?: number }) => () => new OutboxRelay({ client: prisma, nc, prefix: testPrefix('opts'), ...o });
    expect(make({ retryBaseMs: 500, maxBackoffMs: 100 })).toThrow(/retryBaseMs must be between 0 and maxBackoffMs \(100\), got 500/);
    expect(make({ retryBaseMs: -1 })).toThrow(/retryBaseMs/);
    expect(make({ maxBackoffMs: 100 })).toThrow(/retryBaseMs/); // the default floor, 500 ms, above it
    expect(make({ retryBaseMs: 100, maxBackoffMs: 100 })).not.toThrow();
  });

  it('records attempts and the error when publishing fails, and publishes the row once JetStream accepts it', async () => {
    const nowhere = testPrefix('nostream'); // no stream captures this prefix: every publish fails
    const id = await prisma.$transaction((tx) => writeOutbox(tx, { subject: 'events.tasks.resource_deregistered', payload: { resource: 'task:x' } }));
    const registry = new Registry();
    // retryBaseMs 10 s: the row's backoff is at least 10 s, so the second batch below cannot reach it, even when the
    // jitter draws 0 (as it does here).
    const failing = new OutboxRelay({ client: prisma, nc, prefix: nowhere, registry, publishTimeoutMs: 1_000, retryBaseMs: 10_000 });
    const random = jest.spyOn(Math, 'random').mockReturnValue(0);
    const r = await failing.relayBatch().finally(() => random.mockRestore());
    expect(r).toEqual({ claimed: 1, published: 0, failed: 1 });
    const [row] = await prisma.$queryRaw<{ attempts: number; last_error: string | null; published_at: Date | null }[]>`SELECT attempts, last_error, published_at FROM outbox WHERE id = ${id}::uuid`;
    expect(row.attempts).toBe(1);
    expect(row.last_error).toBeTruthy();
    expect(row.published_at).toBeNull();
    expect(await registry.getSingleMetricAsString('outbox_publish_failures_total')).toContain('} 1');
    // The failing relay backs this row off instead of hammering it.
    expect(await failing.relayBatch()).toEqual({ claimed: 0, published: 0, failed: 0 });

    const ok = await relay().relayBatch();
    expect(ok).toEqual({ claimed: 1, published: 1, failed: 0 });
    const [after] = await prisma.$queryRaw<{ attempts: number; last_error: string | null }[]>`SELECT attempts, last_error FROM outbox WHERE id = ${id}::uuid`;
    expect(after).toEqual({ attempts: 2, last_error: null });
  });

  it('wakes at once on wake() and on NOTIFY instead of waiting for the next poll', async () => {
    const { seen, consumer } = await recorder(nc, prefix, 'wake', ['events.tasks.resource_registered']);
    const r = relay({ pollIntervalMs: 60_000, listenUrl: db.url });
    r.start();
    await listening(); // else the NOTIFY goes to nobody (the relay then looks once LISTEN is in place: the next test)
    const t0 = Date.now();
    const notified = await prisma.$transaction((tx) => writeOutbox(tx, { subject: SUBJECT, payload: { resource: 'task:notify', tenant: 'acme' } }, { notify: true }));
    await waitFor(() => seen.some((s) => s.meta.msgId === notified), 5_000, 'the NOTIFY wake-up');
    const woken = await prisma.$transaction((tx) => writeOutbox(tx, { subject: SUBJECT, payload: { resource: 'task:wake', tenant: 'acme' } }));
    r.wake();
    await waitFor(() => seen.some((s) => s.meta.msgId === woken), 5_000, 'the wake() call');
    expect(Date.now() - t0).toBeLessThan(5_000);
    await r.stop();
    await consumer.stop();
  });

  it('after its LISTEN connection is lost, looks once it is back: a row whose NOTIFY went to nobody is not left for the next poll', async () => {
    const { seen, consumer } = await recorder(nc, prefix, 'relisten', ['events.tasks.resource_registered']);
    const r = relay({ pollIntervalMs: 60_000, listenUrl: db.url });
    r.start();
    const [first] = await listening();
    // the connection is cut (a restart, a failover, an idle timeout); the relay reconnects after a second
    await prisma.$queryRaw`SELECT pg_terminate_backend(${first!.pid}::int)`;
    const missed = await prisma.$transaction((tx) => writeOutbox(tx, { subject: SUBJECT, payload: { resource: 'task:missed', tenant: 'acme' } }, { notify: true }));
    await listening(first!.pid);
    // within the reconnect, never the 60 s poll
    await waitFor(() => seen.some((s) => s.meta.msgId === missed), 10_000, 'the row written while LISTEN was down');
    await r.stop();
    await consumer.stop();
  });

  it('deletes published rows past their retention, oldest first in batches, and never an unpublished row', async () => {
    const old = await writeCommitted(5, 'prune-old');
    const recent = await writeCommitted(3, 'prune-recent');
    const stuck = await writeCommitted(2, 'prune-stuck'); // never published, however old
    await prisma.$executeRaw`UPDATE outbox SET published_at = now() - interval '200 hours' WHERE id = ANY(${old}::uuid[])`;
    await prisma.$executeRaw`UPDATE outbox SET published_at = now() - interval '100 hours' WHERE id = ANY(${recent}::uuid[])`;
    await prisma.$executeRaw`UPDATE outbox SET created_at = now() - interval '400 hours' WHERE id = ANY(${stuck}::uuid[])`;
    const left = async () =>
      (await prisma.$queryRaw<{ id: string }[]>`SELECT id::text FROM outbox WHERE id = ANY(${[...old, ...recent, ...stuck]}::uuid[]) ORDER BY id`).map((r) => r.id);

    // Retention 0 keeps every row.
    expect(await relay({ retentionHours: 0 }).prunePublished()).toBe(0);
    expect(await left()).toHaveLength(10);

    const registry = new Registry();
    expect(await relay({ retentionHours: 168, pruneBatchSize: 2, registry }).prunePublished()).toBe(5); // three statements
    expect(await left()).toEqual([...recent, ...stuck].sort());
    expect((await registry.getSingleMetric('outbox_pruned_total')!.get()).values[0].value).toBe(5);

    // A running relay prunes on its own, on its first pass and then every pruneIntervalMs.
    const r = relay({ retentionHours: 72, pruneIntervalMs: 60_000 });
    r.start();
    await waitFor(async () => (await left()).length === 2, 10_000, 'the running relay to prune');
    await r.stop();
    expect(await left()).toEqual([...stuck].sort());
  });

  it('stop() finishes the batch in hand, leaves nothing claimed, and a stopped relay publishes nothing more', async () => {
    const r = relay({ batchSize: 5 });
    await writeCommitted(20, 'stop');
    r.start();
    await waitFor(async () => (await unpublished()) < 20, 10_000, 'the first batch');
    await r.stop();
    expect(r.running).toBe(false);
    const left = await unpublished();
    expect(left % 5).toBe(0); // whole batches only: no half-marked batch
    await new Promise((res) => setTimeout(res, 300));
    expect(await unpublished()).toBe(left);
    // Nothing stays locked: another relay can claim the rest at once.
    const other = relay({ batchSize: 100 });
    expect((await other.relayBatch()).published).toBe(left);
  });

  describe('a row with further messages (`more`)', () => {
    /** One outbox row: its own message, and `more` after it (written as a task's create writes it, in SQL). */
    async function writeRow(own: OutboxRow, more: unknown[]): Promise<void> {
      await prisma.$executeRaw`INSERT INTO outbox (id, subject, payload, headers, more)
        VALUES (${own.id}::uuid, ${own.subject}, ${JSON.stringify(own.payload)}::jsonb, ${JSON.stringify(own.headers)}::jsonb, ${JSON.stringify(more)}::jsonb)`;
    }
    const rowOf = async (id: string) =>
      (await prisma.$queryRaw<Array<{ published: boolean; more_published: boolean; attempts: number; last_error: string | null }>>`
        SELECT published_at IS NOT NULL AS published, more_published_at IS NOT NULL AS more_published, attempts, last_error FROM outbox WHERE id = ${id}::uuid`)[0];

    it("publishes them right after the row's own message, each under its own id, and marks the row with both times", async () => {
      const { seen, consumer } = await recorder(nc, prefix, 'more', ['events.tasks.>']);
      const own = outboxRow({ subject: 'events.tasks.task_updated', payload: { taskId: 'm-1', seq: 1 }, headers: { 'x-request-id': 'req-m' } });
      const more = [
        outboxRow({ subject: SUBJECT, payload: { resource: 'task:m-1', tenant: 'acme' }, headers: { 'x-request-id': 'req-m' } }),
        outboxRow({ subject: 'events.tasks.resource_deregistered', payload: { resource: 'task:m-0' } }),
      ];
      await writeRow(own, more);
      const registry = new Registry();
      expect(await relay({ registry }).relayBatch()).toEqual({ claimed: 1, published: 1, failed: 0 });
      const ids = [own.id, ...more.map((m) => m.id)];
      await waitFor(() => seen.filter((x) => ids.includes(x.meta.msgId ?? '')).length >= 3, 10_000, 'the three messages');
      await consumer.stop();
      const mine = seen.filter((x) => ids.includes(x.meta.msgId ?? '')).sort((a, b) => a.meta.streamSeq - b.meta.streamSeq);
      expect(mine.map((x) => [x.meta.msgId, x.subject, x.payload])).toEqual([
        [own.id, 'events.tasks.task_updated', own.payload],
        [more[0]!.id, SUBJECT, more[0]!.payload],
        [more[1]!.id, 'events.tasks.resource_deregistered', more[1]!.payload],
      ]);
      expect(await rowOf(own.id)).toEqual({ published: true, more_published: true, attempts: 1, last_error: null });
      // the view lists every message with its time
      const listed = await prisma.$queryRaw<Array<{ id: string; subject: string; published: boolean }>>`
        SELECT id::text, subject, published_at IS NOT NULL AS published FROM outbox_messages WHERE id = ANY(${ids}::uuid[]) ORDER BY id`;
      expect(listed).toEqual(ids.map((id, i) => ({ id, subject: [own, ...more][i]!.subject, published: true })).sort((a, b) => (a.id < b.id ? -1 : 1)));
      const counted = await registry.getSingleMetricAsString('outbox_published_total');
      expect(counted).toContain('subject="events.tasks.task_updated"} 1');
      expect(counted).toContain(`subject="${SUBJECT}"} 1`);
      expect(counted).toContain('subject="events.tasks.resource_deregistered"} 1');
    });

    it('leaves the row pending while any of its messages is refused, and publishes it whole later without a second copy of the others', async () => {
      const own = outboxRow({ subject: SUBJECT, payload: { resource: 'task:m-2', tenant: 'acme' } });
      // a subject no stream captures: JetStream refuses it
      await writeRow(own, [{ id: randomUUID(), subject: 'elsewhere.m-2', payload: { resource: 'task:m-2' }, headers: {} }]);
      const before = await streamMessages(nc, prefix);
      expect(await relay({ publishTimeoutMs: 1_000 }).relayBatch()).toEqual({ claimed: 1, published: 0, failed: 1 });
      expect(await rowOf(own.id)).toMatchObject({ published: false, more_published: false, attempts: 1, last_error: expect.any(String) });
      expect(await streamMessages(nc, prefix)).toBe(before + 1); // the row's own message went out
      // fixed: a relay without the first one's backoff publishes the row whole; JetStream drops the own message's copy
      await prisma.$executeRaw`UPDATE outbox SET more = jsonb_set(more, '{0,subject}', '"events.tasks.resource_deregistered"') WHERE id = ${own.id}::uuid`;
      expect(await relay().relayBatch()).toEqual({ claimed: 1, published: 1, failed: 0 });
      expect(await rowOf(own.id)).toEqual({ published: true, more_published: true, attempts: 2, last_error: null });
      expect(await streamMessages(nc, prefix)).toBe(before + 2);
    });

    it('cannot be marked published by a relay that does not publish `more` (the code before it), so none of its messages is lost', async () => {
      const plain = await prisma.$transaction((tx) => writeOutbox(tx, { subject: SUBJECT, payload: { resource: 'task:m-3' } }));
      const own = outboxRow({ subject: SUBJECT, payload: { resource: 'task:m-4' } });
      await writeRow(own, [outboxRow({ subject: SUBJECT, payload: { resource: 'task:m-5' } })]);
      // the mark of the relay before `more`, as it was
      const oldMark = 'UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = ANY($1::uuid[])';
      await expect(prisma.$executeRawUnsafe(oldMark, [own.id])).rejects.toThrow(/ck_outbox_more_published/);
      expect(await rowOf(own.id)).toMatchObject({ published: false });
      expect(await prisma.$executeRawUnsafe(oldMark, [plain])).toBe(1); // rows without `more` it still marks
      // today's mark passes
      expect(await prisma.$executeRawUnsafe(MARK_PUBLISHED, [own.id])).toBe(1);
      expect(await rowOf(own.id)).toMatchObject({ published: true, more_published: true });
    });
  });
});
