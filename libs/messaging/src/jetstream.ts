import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
  type StreamConfig,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { EVENTS_STREAM } from '@agentplane/contracts';
import { assertPrefix } from './nats.js';

/** The smallest de-duplication window we accept: longer than any relay retry loop around one outbox row. */
export const MIN_DUPLICATE_WINDOW_MS = 120_000;

const NANOS_PER_MS = 1_000_000;
const nanos = (ms: number): number => Math.round(ms * NANOS_PER_MS);

/**
 * The events stream's name under a subject prefix: `EVENTS` in production, `t_ab12_EVENTS` for prefix `t_ab12.`
 * (stream names cannot contain dots).
 */
export function eventsStreamName(prefix: string): string {
  return `${assertPrefix(prefix).replace(/\./g, '_')}${EVENTS_STREAM}`;
}

/** A contract subject (`events.tasks.resource_registered`) as published under the prefix. */
export function eventSubject(prefix: string, subject: string): string {
  return `${assertPrefix(prefix)}${subject}`;
}

export interface EventsStreamOptions {
  /** JetStream de-duplication window on `Nats-Msg-Id` (the outbox id); at least 2 minutes. Default 2 minutes. */
  duplicateWindowMs?: number;
  /** How long events are kept. Default 7 days: a stopped consumer catches up within that. */
  maxAgeMs?: number;
  /** Replicas in a JetStream cluster. Default 1. */
  replicas?: number;
}

/** The `EVENTS` stream's configuration under a prefix (exported so tests and docs show the one source). */
export function eventsStreamConfig(prefix: string, opts: EventsStreamOptions = {}): Partial<StreamConfig> & { name: string } {
  const duplicateWindowMs = opts.duplicateWindowMs ?? MIN_DUPLICATE_WINDOW_MS;
  if (duplicateWindowMs < MIN_DUPLICATE_WINDOW_MS) throw new Error(`duplicateWindowMs must be at least ${MIN_DUPLICATE_WINDOW_MS}: got ${duplicateWindowMs}`);
  return {
    name: eventsStreamName(prefix),
    subjects: [eventSubject(prefix, 'events.>')],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(opts.maxAgeMs ?? 7 * 24 * 3_600_000),
    duplicate_window: nanos(duplicateWindowMs),
    num_replicas: opts.replicas ?? 1,
  };
}

function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === 10059 || err.code === 10014 || err.status === 404);
}

/**
 * Creates the events stream (`EVENTS`, capturing `events.>`, both under the prefix) or brings an existing one to
 * this configuration. Idempotent and safe to call from every process at start: a concurrent creator loses the race
 * to an identical stream and updates it to the same config.
 */
export async function ensureEventsStream(nc: NatsConnection, prefix: string, opts: EventsStreamOptions = {}): Promise<void> {
  const config = eventsStreamConfig(prefix, opts);
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(config.name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.streams.add(config);
      return;
    } catch (addErr) {
      // 10058: created by someone else meanwhile (with another config) — fall through to update.
      if (!(addErr instanceof JetStreamApiError && addErr.code === 10058)) throw addErr;
    }
  }
  const { name, ...update } = config;
  await jsm.streams.update(name, update);
}

/** Deletes the events stream of a prefix (tests clean up with it); false when it did not exist. */
export async function deleteEventsStream(nc: NatsConnection, prefix: string): Promise<boolean> {
  const jsm = await jetstreamManager(nc);
  try {
    return await jsm.streams.delete(eventsStreamName(prefix));
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/**
 * Header the relay adds to every event: when its outbox row was written (in the business transaction), so a consumer
 * can measure the lag from commit to applied (e.g. authz_registration_lag_seconds).
 */
export const OUTBOX_CREATED_AT_HEADER = 'Agentplane-Outbox-Created-At';

/** What a consumer handler learns about a delivery besides the subject and payload. */
export interface DeliveryMeta {
  /** The `Nats-Msg-Id` header: the outbox row id for events from an outbox relay; the key to deduplicate on. */
  msgId: string | undefined;
  /** 1 on the first delivery, 2 on the first redelivery, … */
  deliveryCount: number;
  streamSeq: number;
  /** When the event's outbox row was written (the relay's OUTBOX_CREATED_AT_HEADER), if it says. */
  createdAt?: Date;
  /** Extends the ack deadline for a handler that runs longer than ackWait. */
  working(): void;
}

export type EventHandler = (subject: string, payload: unknown, meta: DeliveryMeta) => Promise<void> | void;

/** Thrown by a handler for a message that can never succeed (e.g. a payload its schema rejects): terminated, not retried. */
export class PoisonMessageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PoisonMessageError';
  }
}

export interface ConsumerLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ConsumeDurableOptions {
  nc: NatsConnection;
  prefix: string;
  /** The durable consumer's name (letters, digits, `_`, `-`); one per consuming service and purpose. */
  durable: string;
  /** Contract subjects without the prefix; `*` and `>` wildcards allowed. */
  filterSubjects: string[];
  handler: EventHandler;
  /** Deliveries before the server gives up on a message. Default unlimited: a failing handler retries with capped backoff. */
  maxDeliver?: number;
  /** How long the server waits for an ack before redelivering. Default 30 s. */
  ackWaitMs?: number;
  /** Redelivery delay after a failure: base × 2^(deliveries − 1), capped, with full jitter. Defaults 1 s and 60 s. */
  nakBaseDelayMs?: number;
  nakMaxDelayMs?: number;
  /** Messages pulled per request (the handler still runs one message at a time). Default 64. */
  batch?: number;
  logger?: ConsumerLogger;
}

export interface DurableConsumer {
  /** Stops pulling, lets the handler finish the message in hand, returns buffered ones for redelivery, flushes acks. */
  stop(): Promise<void>;
  /** Resolves when the consume loop has ended (after stop(), or if the subscription failed). */
  readonly done: Promise<void>;
}

const DURABLE = /^[A-Za-z0-9_-]+$/;

/** NATS subject matching with `*` (one token) and `>` (the rest). */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (f[i] !== '*' && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}

/** nats-server 2.10 added `filter_subjects` and `+TERM <reason>` (2.9 ignores a TERM that carries a reason). */
function isServer210(nc: NatsConnection): boolean {
  const [major, minor] = (nc.info?.version ?? '0.0.0').split('.').map(Number);
  return major > 2 || (major === 2 && minor >= 10);
}

async function upsertConsumer(jsm: JetStreamManager, stream: string, config: Partial<ConsumerConfig> & { durable_name: string }): Promise<void> {
  let exists = true;
  try {
    await jsm.consumers.info(stream, config.durable_name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    exists = false;
  }
  if (!exists) {
    try {
      await jsm.consumers.add(stream, config);
      return;
    } catch (err) {
      // Another instance of the service created it meanwhile: update it to our config below.
      if (!(err instanceof JetStreamApiError && (err.code === 10148 || err.code === 10013))) throw err;
    }
  }
  const { durable_name, deliver_policy: _d, ack_policy: _a, ...update } = config;
  await jsm.consumers.update(stream, durable_name, update);
}

/**
 * Consumes events with a durable pull consumer on the events stream: each message is parsed as JSON and handed
 * to `handler(subject without prefix, payload, meta)`, one at a time. Success → ack; a thrown error → nak with
 * exponential backoff (redelivered later); invalid JSON or a PoisonMessageError → logged and terminated (never
 * redelivered). Handlers must be idempotent on `meta.msgId`: delivery is at least once.
 */
export async function consumeDurable(opts: ConsumeDurableOptions): Promise<DurableConsumer> {
  const { nc, prefix, durable, handler, logger } = opts;
  if (!DURABLE.test(durable)) throw new Error(`durable name must match ${DURABLE}: got "${durable}"`);
  if (opts.filterSubjects.length === 0) throw new Error('consumeDurable needs at least one filter subject');
  const stream = eventsStreamName(prefix);
  const filters = opts.filterSubjects.map((s) => eventSubject(prefix, s));
  // nats-server < 2.10 has no filter_subjects: pull the prefix's events and ack what no filter matches.
  const clientSideFilter = filters.length > 1 && !isServer210(nc);
  const term = (m: JsMsg, reason: string) => (isServer210(nc) ? m.term(reason) : m.term());
  const config: Partial<ConsumerConfig> & { durable_name: string } = {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(opts.ackWaitMs ?? 30_000),
    max_deliver: opts.maxDeliver ?? -1,
    ...(filters.length === 1 ? { filter_subject: filters[0] } : clientSideFilter ? { filter_subject: eventSubject(prefix, 'events.>') } : { filter_subjects: filters }),
  };
  const jsm = await jetstreamManager(nc);
  await upsertConsumer(jsm, stream, config);

  const consumer = await jetstream(nc).consumers.get(stream, durable);
  const messages: ConsumerMessages = await consumer.consume({ max_messages: opts.batch ?? 64 });
  const base = opts.nakBaseDelayMs ?? 1_000;
  const cap = opts.nakMaxDelayMs ?? 60_000;
  let stopping = false;

  const handle = async (m: JsMsg): Promise<void> => {
    const subject = m.subject.startsWith(prefix) ? m.subject.slice(prefix.length) : m.subject;
    if (clientSideFilter && !filters.some((f) => subjectMatches(f, m.subject))) return m.ack();
    const msgId = m.headers?.get('Nats-Msg-Id') || undefined;
    const created = Date.parse(m.headers?.get(OUTBOX_CREATED_AT_HEADER) ?? '');
    const meta: DeliveryMeta = { msgId, deliveryCount: m.info.deliveryCount, streamSeq: m.seq, working: () => m.working(), ...(Number.isNaN(created) ? {} : { createdAt: new Date(created) }) };
    let payload: unknown;
    try {
      payload = JSON.parse(m.string());
    } catch {
      logger?.error({ durable, subject, msgId, streamSeq: m.seq }, 'event is not valid JSON: terminated');
      return term(m, 'invalid JSON');
    }
    try {
      await handler(subject, payload, meta);
      m.ack();
    } catch (err) {
      if (err instanceof PoisonMessageError) {
        logger?.error({ durable, subject, msgId, streamSeq: m.seq, err: err.message }, 'event rejected by its handler: terminated');
        return term(m, err.message);
      }
      const delay = Math.round(Math.random() * Math.min(cap, base * 2 ** Math.min(meta.deliveryCount - 1, 30)));
      logger?.warn({ durable, subject, msgId, deliveryCount: meta.deliveryCount, delayMs: delay, err: err instanceof Error ? err.message : String(err) }, 'event handler failed: will be redelivered');
      m.nak(delay);
    }
  };

  const done = (async () => {
    for await (const m of messages) {
      // Messages buffered when stop() was called go back at once, to this or another instance.
      if (stopping) m.nak();
      else await handle(m);
    }
  })().catch((err: unknown) => {
    logger?.error({ durable, err: err instanceof Error ? err.message : String(err) }, 'consumer stopped with an error');
  });

  return {
    done,
    async stop() {
      if (!stopping) {
        stopping = true;
        await messages.close();
      }
      await done;
      if (!nc.isClosed()) await nc.flush();
    },
  };
}
