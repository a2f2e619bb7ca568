import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { PrismaClient } from '@agentplane/db-tasks';
import { MetricsModule, MetricsRegistry } from '@agentplane/observability';
import { prismaModule, type TestDatabase } from '@agentplane/persistence';
import { MessagingModule, NATS_CONNECTION, OutboxModule, OutboxRelay, deleteEventsStream, ensureEventsStream, eventsStreamName, outboxEnvSchema, toOutboxConfig, writeOutbox } from '../src/index.js';
import { NATS_AUTH, NATS_URL, natsConnect, outboxDatabase, recorder, testPrefix, waitFor } from './setup.js';

describe('OutboxModule (the relay inside a Nest app)', () => {
  const prefix = testPrefix('outboxmod');
  let db: TestDatabase;
  let nc: NatsConnection;

  function boot(enabled: boolean): Promise<INestApplicationContext> {
    @Module({
      imports: [
        MetricsModule.forRoot('outbox-test'),
        MessagingModule.forRoot({ servers: NATS_URL, prefix, name: 'outbox-test', auth: NATS_AUTH }),
        prismaModule(PrismaClient, { url: db.url, poolMax: 2 }),
        OutboxModule.forRoot({ clientToken: PrismaClient, enabled, pollIntervalMs: 50 }),
      ],
    })
    class TestApp {}
    return NestFactory.createApplicationContext(TestApp, { logger: false });
  }

  beforeAll(async () => {
    db = await outboxDatabase();
    nc = await natsConnect('outbox-module-test');
  });

  afterAll(async () => {
    if (nc) {
      await deleteEventsStream(nc, prefix);
      await nc.drain();
    }
    await db?.drop();
  });

  it('waits for the stream (never creates it), publishes committed rows once ops made it, exposes metrics, and stops the relay before NATS drains', async () => {
    const app = await boot(true);
    const relay = app.get(OutboxRelay);
    expect(relay.running).toBe(true);
    const prisma = app.get(PrismaClient);
    const id = await prisma.$transaction((tx) => writeOutbox(tx, { subject: 'events.tasks.resource_registered', payload: { resource: 'task:1', tenant: 'acme' } }));
    relay.wake();
    await new Promise((r) => setTimeout(r, 500));
    await expect((await jetstreamManager(nc)).streams.info(eventsStreamName(prefix))).rejects.toThrow(/not found/i);
    expect((await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL`)[0].n).toBe(1);
    await ensureEventsStream(nc, prefix); // the operators' step (npm run nats:stream)
    await waitFor(async () => (await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL`)[0].n === 0, 10_000, 'the relay');
    const { seen, consumer } = await recorder(nc, prefix, 'module');
    await waitFor(() => seen.length === 1, 5_000, 'the event');
    await consumer.stop();
    expect(seen[0].meta.msgId).toBe(id);

    const metrics = await app.get(MetricsRegistry).metrics();
    expect(metrics).toMatch(/outbox_published_total\{subject="events.tasks.resource_registered",service="outbox-test"\} 1/);
    expect(metrics).toMatch(/outbox_pending\{service="outbox-test"\} 0/);

    const appNc = app.get<NatsConnection>(NATS_CONNECTION);
    await app.close();
    expect(relay.running).toBe(false);
    expect(appNc.isClosed()).toBe(true);
  });

  it('does not start the relay when disabled (OUTBOX_RELAY=off)', async () => {
    const app = await boot(false);
    const prisma = app.get(PrismaClient);
    await prisma.$transaction((tx) => writeOutbox(tx, { subject: 'events.tasks.resource_registered', payload: { resource: 'task:2', tenant: 'acme' } }));
    await new Promise((r) => setTimeout(r, 300));
    expect(app.get(OutboxRelay).running).toBe(false);
    expect((await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL`)[0].n).toBe(1);
    await app.close();
  });

  it('reads OUTBOX_RELAY and OUTBOX_RETENTION_HOURS (default 168, 0 keeps every row) and refuses a bad retention', () => {
    expect(toOutboxConfig(outboxEnvSchema.parse({}))).toEqual({ outboxRelay: true, outboxRetentionHours: 168 });
    expect(toOutboxConfig(outboxEnvSchema.parse({ OUTBOX_RELAY: 'off', OUTBOX_RETENTION_HOURS: '0' }))).toEqual({ outboxRelay: false, outboxRetentionHours: 0 });
    for (const bad of ['-1', '1.5', 'week']) expect(outboxEnvSchema.safeParse({ OUTBOX_RETENTION_HOURS: bad }).success).toBe(false);
  });
});
