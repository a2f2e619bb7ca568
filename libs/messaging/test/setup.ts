import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type ConsumerInfo } from '@nats-io/jetstream';
import { PrismaClient } from '@agentplane/db-tasks';
import { createPrismaClient, createTestDatabase, type TestDatabase } from '@agentplane/persistence';
import { consumeDurable, eventsStreamName, natsConnectionOptions, type DeliveryMeta, type DurableConsumer } from '../src/index.js';

// @agentplane/testing depends on this lib (startService), so importing it here would be a cycle in the Nx
// task graph; these lines mirror its NATS_URL, testNatsAuth() and testPrefix(). This library's tests exercise the
// outbox and JetStream mechanics with made-up subjects, as the test server's `lib-test` identity (test runs only).
export const NATS_URL = process.env['AGENTPLANE_TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const NATS_DIR = process.env['AGENTPLANE_TEST_NATS_DIR'];
export const NATS_AUTH = NATS_DIR ? { nkeySeedFile: join(NATS_DIR, 'identities', 'lib-test.nk'), inboxPrefix: '_INBOX_lib-test' } : {};

/** A subject prefix unique to this test file, so files run in parallel on one NATS server. */
export function testPrefix(label = 't'): string {
  return `${label.replace(/[^A-Za-z0-9_-]/g, '_')}_${randomBytes(4).toString('hex')}.`;
}

export const MIGRATIONS = fileURLToPath(new URL('../../../prisma/tasks/migrations', import.meta.url));

/** The tasks database carries the outbox table (prisma/tasks/migrations/…_outbox). */
export function outboxDatabase(): Promise<TestDatabase> {
  return createTestDatabase({ service: 'tasks', migrationsDir: MIGRATIONS });
}

export function prismaOf(db: TestDatabase, poolMax = 5): PrismaClient {
  return createPrismaClient(PrismaClient, { url: db.url, poolMax });
}

export function natsConnect(name: string): Promise<NatsConnection> {
  return connect(natsConnectionOptions({ servers: NATS_URL, prefix: '', name, auth: NATS_AUTH }));
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function streamMessages(nc: NatsConnection, prefix: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(eventsStreamName(prefix))).state.messages;
}

export async function consumerInfo(nc: NatsConnection, prefix: string, durable: string): Promise<ConsumerInfo> {
  const jsm = await jetstreamManager(nc);
  return jsm.consumers.info(eventsStreamName(prefix), durable);
}

export interface Seen {
  subject: string;
  payload: unknown;
  meta: Omit<DeliveryMeta, 'working'>;
}

/** A durable consumer that records every delivery it acks. */
export async function recorder(nc: NatsConnection, prefix: string, durable: string, filterSubjects = ['events.>']): Promise<{ seen: Seen[]; consumer: DurableConsumer }> {
  const seen: Seen[] = [];
  const consumer = await consumeDurable({
    nc,
    prefix,
    durable,
    filterSubjects,
    handler: (subject, payload, { msgId, deliveryCount, streamSeq }) => void seen.push({ subject, payload, meta: { msgId, deliveryCount, streamSeq } }),
  });
  return { seen, consumer };
}
