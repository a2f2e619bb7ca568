import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { SqlPool, explainPrepared, type TestDatabase } from '@agentplane/persistence';
import { CLAIM_PENDING, MARK_PUBLISHED, OutboxRelay, deleteEventsStream, ensureEventsStream, writeOutbox } from '../src/index.js';
import { natsConnect, outboxDatabase, testPrefix } from './setup.js';

// The relay's statements are prepared once per connection. PostgreSQL settles on a generic plan after five executions,
// chosen with the statistics of that moment: on a new database, a nearly empty outbox. Published rows stay for days
// (OUTBOX_RETENTION_HOURS), so a mark planned as a scan of the table reads every one of them at every batch.
const PUBLISHED = 20_000;

describe('the outbox relay keeps index plans as published rows pile up (no ANALYZE yet)', () => {
  const prefix = testPrefix('outbox-plans');
  let db: TestDatabase;
  let pool: SqlPool;
  let nc: NatsConnection;
  let relay: OutboxRelay;

  const write = (n: number) => pool.$transaction(async (tx) => {
    for (let i = 0; i < n; i++) await writeOutbox(tx, { subject: 'events.tasks.resource_registered', payload: { resource: `task:${randomUUID()}`, tenant: 'acme' } });
  });

  beforeAll(async () => {
    db = await outboxDatabase();
    // one connection: the statements examined below are the ones the relay prepared, and planned, while small
    pool = new SqlPool({ url: db.url, max: 1 });
    nc = await natsConnect('outbox-plans-test');
    await ensureEventsStream(nc, prefix);
    relay = new OutboxRelay({ client: pool, nc, prefix, batchSize: 100 });
    for (let i = 0; i < 8; i++) {
      await write(3);
      expect(await relay.relayBatch()).toEqual({ claimed: 3, published: 3, failed: 0 });
    }
    await pool.$executeRawUnsafe(
      `INSERT INTO outbox (id, subject, payload, headers, published_at)
       SELECT gen_random_uuid(), 'events.tasks.resource_registered', '{}'::jsonb, '{}'::jsonb, now() FROM generate_series(1, $1::int)`,
      PUBLISHED,
    );
  });

  afterAll(async () => {
    await relay?.stop();
    await pool?.end();
    if (nc) {
      await deleteEventsStream(nc, prefix);
      await nc.drain();
    }
    await db?.drop();
  });

  it(`marks a batch published by its ids, not by a scan of the ${PUBLISHED} published rows`, async () => {
    await write(3);
    expect(await relay.relayBatch()).toEqual({ claimed: 3, published: 3, failed: 0 });
    const client = await pool.pool.connect();
    try {
      // The relay's own sequence on the connection that prepared it: the claim, then the mark of what it published.
      await client.query('BEGIN');
      await client.query(`INSERT INTO outbox (id, subject, payload, headers) SELECT gen_random_uuid(), 'events.tasks.resource_registered', '{}', '{}' FROM generate_series(1, 3)`);
      const buffers = async (statement: string, args: string) => (await explainPrepared(client, statement, args)).buffers;
      // A scan reads the table's 300-odd pages; the partial index of unpublished rows, or three primary-key probes, a handful.
      expect(await buffers(CLAIM_PENDING, `'{}', 100`)).toBeLessThan(30);
      expect(await buffers(MARK_PUBLISHED, `'{${[randomUUID(), randomUUID(), randomUUID()].join(',')}}'`)).toBeLessThan(30);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });
});
