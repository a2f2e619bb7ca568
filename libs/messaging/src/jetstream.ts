import { createHash } from 'node:crypto';
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
  type ConsumerInfo,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
  type StreamConfig,
} from '@nats-io/jetstream';
import { NoRespondersError, RequestError, TimeoutError } from '@nats-io/nats-core';
import type { NatsConnection } from '@nats-io/transport-node';
import { EVENTS_STREAM } from '@agentplane/contracts';
import { assertPrefix } from './nats.js';
import { retryTransient, type TransientRetry } from './retry.js';

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
 * Whether a JetStream API call failed for a reason that passes: no answer in time (a busy or fsync-bound server), no
 * JetStream to answer yet (a cluster electing its meta leader, a server still starting), or JetStream saying it is
 * temporarily unavailable (503). Anything else (a bad config, a permission) is not retried.
 */
export function isTransientJetStreamError(err: unknown): boolean {
  if (err instanceof TimeoutError || err instanceof NoRespondersError) return true;
  if (err instanceof RequestError) return err.isNoResponders() || err.cause instanceof TimeoutError;
  return err instanceof JetStreamApiError && err.status === 503;
}

/** How long a JetStream set-up step is retried ({@link TransientRetry}). */
export type JetStreamSetupRetry = TransientRetry;

/**
 * Runs an idempotent JetStream set-up step (a stream or a consumer brought to its config) and retries it, with capped
 * exponential backoff and full jitter, while it fails transiently ({@link isTransientJetStreamError}). Without it, one
 * JetStream API call timing out while a process started made the process exit: seen with a test's server under CI's
 * load, and what a cluster electing a leader does for seconds. The last error is thrown once attempts run out.
 */
export function retryJetStreamSetup<T>(what: string, step: () => Promise<T>, opts: JetStreamSetupRetry = {}): Promise<T> {
  return retryTransient(what, step, isTransientJetStreamError, 'JetStream set-up step failed transiently; retrying', opts);
}

/**
 * Creates the events stream (`EVENTS`, capturing `events.>`, both under the prefix) or brings an existing one to
 * this configuration. Operators' tooling only (`npm run nats:stream`, the stack, the test harnesses), as the `ops`
 * identity: no service identity may create or update a stream (DESIGN §2.1), a service checks it
 * (awaitEventsStream). Idempotent: a concurrent creator loses the race to an identical stream and updates it.
 */
export async function ensureEventsStream(nc: NatsConnection, prefix: string, opts: EventsStreamOptions = {}): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await ensureStream(jsm.streams, eventsStreamConfig(prefix, opts));
}

/** The command that creates or updates the events stream as the `ops` identity (docs/operations.md). */
export const EVENTS_STREAM_OPS_COMMAND = 'npm run nats:stream';

/** The events stream is missing, or its config does not cover ours: operators fix it, a service waits. */
export class EventsStreamNotReadyError extends Error {
  constructor(
    readonly stream: string,
    readonly problem: string,
  ) {
    super(
      `events stream ${stream}: ${problem}; services never create or change it: ` +
        `create it with the ops identity (${EVENTS_STREAM_OPS_COMMAND}, docs/operations.md) before the services`,
    );
    this.name = 'EventsStreamNotReadyError';
  }
}

/**
 * What is wrong with an existing stream's config for the events of a prefix, or undefined when it covers ours: its
 * subjects capture `<prefix>events.>`, it keeps events by limits (not interest or work queue), acks publishes, is not
 * sealed, and de-duplicates over at least our window. Stricter limits (age, size) and more replicas are the operators'.
 */
export function eventsStreamProblem(config: Partial<StreamConfig>, prefix: string, opts: EventsStreamOptions = {}): string | undefined {
  const subject = eventSubject(prefix, 'events.>');
  const window = nanos(Math.max(opts.duplicateWindowMs ?? 0, MIN_DUPLICATE_WINDOW_MS));
  const have = config.duplicate_window ?? 0;
  if (!(config.subjects ?? []).some((s) => subjectCovers(s, subject))) return `its subjects ${JSON.stringify(config.subjects ?? [])} do not capture ${subject}`;
  if (config.retention !== undefined && config.retention !== RetentionPolicy.Limits) return `retention is ${config.retention}, not limits`;
  if (config.no_ack) return 'it does not acknowledge publishes (no_ack)';
  if (config.sealed) return 'it is sealed';
  if (have < window) return `its duplicate window (${have / NANOS_PER_MS} ms) is under ${window / NANOS_PER_MS} ms`;
  return undefined;
}

/**
 * Checks that the events stream of a prefix exists with a config that covers ours (eventsStreamProblem), reading
 * STREAM.INFO only. Throws EventsStreamNotReadyError when it is missing or wrong.
 */
export async function checkEventsStream(nc: NatsConnection, prefix: string, opts: EventsStreamOptions = {}): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const name = eventsStreamName(prefix);
  let config: Partial<StreamConfig>;
  try {
    config = (await jsm.streams.info(name)).config;
  } catch (err) {
    if (isNotFound(err)) throw new EventsStreamNotReadyError(name, 'it does not exist');
    throw err;
  }
  const problem = eventsStreamProblem(config, prefix, opts);
  if (problem) throw new EventsStreamNotReadyError(name, problem);
}

/**
 * A service's start: waits for the events stream (checkEventsStream), retrying with the set-up backoff while it is
 * missing or wrong or JetStream fails transiently; each retry warns with the fix (the ops command). Never creates it.
 */
export function awaitEventsStream(nc: NatsConnection, prefix: string, opts: EventsStreamOptions & { retry?: JetStreamSetupRetry } = {}): Promise<void> {
  const { retry, ...stream } = opts;
  return retryTransient(
    `events stream ${eventsStreamName(prefix)}`,
    () => checkEventsStream(nc, prefix, stream),
    (err) => err instanceof EventsStreamNotReadyError || isTransientJetStreamError(err),
    'events stream not ready (missing, or not as this service needs it); retrying',
    retry,
  );
}

/** The part of JetStream's streams API that ensureStream uses. */
export type StreamsApi = Pick<JetStreamManager['streams'], 'info' | 'add' | 'update'>;

/**
 * Creates a stream, or brings the one of its name to `config`. A create that loses a race to another process creating
 * the same stream is answered 10058 (the name is taken) or, by nats-server 2.9 (seen at `npm start`, five processes
 * creating it at once on a fresh server), 10065 (its subjects overlap an existing stream): either way, once a stream
 * of this name exists, it is updated to the config. A 10065 with no stream of this name is another stream over these
 * subjects, and an error.
 */
export async function ensureStream(streams: StreamsApi, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  const exists = async () => {
    try {
      await streams.info(config.name);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  };
  if (!(await exists())) {
    try {
      await streams.add(config);
      return;
    } catch (addErr) {
      const raced = addErr instanceof JetStreamApiError && (addErr.code === 10058 || (addErr.code === 10065 && (await exists())));
      if (!raced) throw addErr;
    }
  }
  const { name, ...update } = config;
  await streams.update(name, update);
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
}

export type EventHandler = (subject: string, payload: unknown, meta: DeliveryMeta) => Promise<void> | void;

/** One delivered event, as a batch handler sees it. */
export interface ConsumedEvent {
  /** The subject without the prefix. */
  subject: string;
  payload: unknown;
  meta: DeliveryMeta;
}

/**
 * Handles several buffered events at once (e.g. in one database transaction) and says what became of each, in order:
 * `undefined` → ack; a PoisonMessageError → terminated; any other error → redelivered with backoff. Throwing fails
 * the batch as a whole: its events then go through the one-at-a-time handler (handlers are idempotent, so whatever
 * the failed batch did is not done twice).
 */
export type BatchEventHandler = (events: ConsumedEvent[]) => Promise<Array<Error | undefined>>;

/** Thrown by a handler for a message that can never succeed (e.g. a payload its schema rejects): terminated, not retried. */
export class PoisonMessageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PoisonMessageError';
  }
}

export interface ConsumerLogger {
  info?(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ConsumeDurableOptions {
  nc: NatsConnection;
  prefix: string;
  /**
   * The durable consumer's name (letters, digits, `_`, `-`); one per consuming service and purpose. Before
   * nats-server 2.10, several filter subjects are one consumer each, named from it (see durableConsumers).
   */
  durable: string;
  /** Contract subjects without the prefix; `*` and `>` wildcards allowed; no two may match the same subject. */
  filterSubjects: string[];
  /** Handles one event; also every event of a batch that `batchHandler` failed as a whole. */
  handler: EventHandler;
  /** Handles the events already buffered together (2 to `maxBatch`); without it, one event at a time. */
  batchHandler?: BatchEventHandler;
  /** The most events handed to `batchHandler` at once. Default 64. */
  maxBatch?: number;
  /** Deliveries before the server gives up on a message. Default unlimited: a failing handler retries with capped backoff. */
  maxDeliver?: number;
  /** How long the server waits for an ack before redelivering. Default 30 s. */
  ackWaitMs?: number;
  /** Redelivery delay after a failure: base × 2^(deliveries − 1), capped, with full jitter. Defaults 1 s and 60 s. */
  nakBaseDelayMs?: number;
  nakMaxDelayMs?: number;
  /** Messages pulled per request, per consumer. Default 64. */
  batch?: number;
  logger?: ConsumerLogger;
}

export interface DurableConsumer {
  /** Stops pulling, lets the handler finish the message (or batch) in hand, returns buffered ones for redelivery, flushes acks. */
  stop(): Promise<void>;
  /** Resolves when the consume loop has ended (after stop(), or if a subscription failed). */
  readonly done: Promise<void>;
}

const DURABLE = /^[A-Za-z0-9_-]+$/;

/** Whether some subject matches both NATS subject filters (`*` one token, `>` the rest). */
export function subjectsOverlap(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (i >= x.length || i >= y.length) return false;
    if (x[i] === '>' || y[i] === '>') return true;
    if (x[i] !== '*' && y[i] !== '*' && x[i] !== y[i]) return false;
  }
  return true;
}

/** Whether every subject that filter `b` matches, filter `a` matches too. */
export function subjectCovers(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < x.length; i++) {
    if (x[i] === '>') return i < y.length;
    if (i >= y.length || y[i] === '>') return false;
    if (x[i] !== '*' && x[i] !== y[i]) return false;
  }
  return x.length === y.length;
}

/** nats-server 2.10 added `filter_subjects` and `+TERM <reason>` (2.9 ignores a TERM that carries a reason). */
export function hasFilterSubjects(nc: NatsConnection): boolean {
  const [major, minor] = (nc.info?.version ?? '0.0.0').split('.').map(Number);
  return major > 2 || (major === 2 && minor >= 10);
}

/** The JetStream consumers behind one durable name, and the ones an earlier layout of it left that they replace. */
export interface DurableConsumers {
  consumers: Array<{ name: string; filterSubjects: string[] }>;
  replaces: string[];
}

/**
 * One consumer named `durable` filters every subject, unless the server predates `filter_subjects` (2.10) and there
 * are several: then one consumer per filter subject, so the server filters and no other event reaches the process,
 * named `<durable>_<the filter's last literal token>_<6 hex of its SHA-256>` (e.g.
 * `authz-proxy_resource_registered_0c6a4e`; the hash keeps two filters with one last token apart, the prefix stays out
 * so the names are the same under every prefix). Each layout replaces the other's consumers: a server upgrade to
 * 2.10 folds the per-filter consumers into `durable`, and on 2.9 the per-filter consumers replace `durable` itself,
 * which earlier versions of this function ran as a catch-all under `events.>` (acking client-side what no filter
 * matched).
 */
export function durableConsumers(durable: string, filterSubjects: string[], filterSubjectsSupported: boolean): DurableConsumers {
  const perFilter = filterSubjects.map((f) => {
    const token = f.split('.').reverse().find((t) => t !== '*' && t !== '>') ?? 'all';
    return { name: `${durable}_${token.replace(/[^A-Za-z0-9_-]/g, '-')}_${createHash('sha256').update(f).digest('hex').slice(0, 6)}`, filterSubjects: [f] };
  });
  if (filterSubjects.length === 1) return { consumers: [{ name: durable, filterSubjects }], replaces: [] };
  if (filterSubjectsSupported) return { consumers: [{ name: durable, filterSubjects }], replaces: perFilter.map((c) => c.name) };
  return { consumers: perFilter, replaces: [durable] };
}

async function infoOrUndefined(jsm: JetStreamManager, stream: string, name: string): Promise<ConsumerInfo | undefined> {
  try {
    return await jsm.consumers.info(stream, name);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function upsertConsumer(jsm: JetStreamManager, stream: string, config: Partial<ConsumerConfig> & { durable_name: string }, exists: boolean): Promise<void> {
  if (!exists) {
    try {
      await jsm.consumers.add(stream, config);
      return;
    } catch (err) {
      // Another instance of the service created it meanwhile: update it to our config below.
      if (!(err instanceof JetStreamApiError && (err.code === 10148 || err.code === 10013))) throw err;
    }
  }
  const { durable_name, deliver_policy: _d, opt_start_seq: _s, ack_policy: _a, ...update } = config;
  await jsm.consumers.update(stream, durable_name, update);
}

/**
 * Creates or updates the consumers of the layout and deletes the ones it replaces. A consumer created while a
 * replaced one still exists starts where that one's acks end (its ack floor + 1) when the replaced ones' filters
 * cover the new ones, so a layout change neither skips an event nor replays the stream; a message the replaced
 * consumer handled after that point comes again (consumers are idempotent). In a rolling upgrade the old instances'
 * consumer is deleted under them: their pulls then find no consumer and wait (the client retries) while the new
 * instances consume; a rollback would recreate it from the stream's start (idempotent, only slower).
 */
async function ensureConsumers(
  jsm: JetStreamManager,
  stream: string,
  layout: { consumers: Array<{ name: string; filters: string[] }>; replaces: string[] },
  base: Partial<ConsumerConfig>,
  log: { durable: string; logger?: ConsumerLogger },
): Promise<void> {
  const existing = await Promise.all(layout.consumers.map((c) => infoOrUndefined(jsm, stream, c.name)));
  const replaced = (await Promise.all(layout.replaces.map((name) => infoOrUndefined(jsm, stream, name)))).filter((i): i is ConsumerInfo => i !== undefined);
  const filtersOf = (i: ConsumerInfo) => i.config.filter_subjects ?? (i.config.filter_subject ? [i.config.filter_subject] : ['>']);
  const covered = layout.consumers.every((c) => c.filters.every((f) => replaced.some((r) => filtersOf(r).some((rf) => subjectCovers(rf, f)))));
  const start: Partial<ConsumerConfig> =
    replaced.length > 0 && covered
      ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.min(...replaced.map((r) => r.ack_floor.stream_seq)) + 1 }
      : { deliver_policy: DeliverPolicy.All };
  for (const [i, c] of layout.consumers.entries()) {
    const filter = c.filters.length === 1 ? { filter_subject: c.filters[0] } : { filter_subjects: c.filters };
    await upsertConsumer(jsm, stream, { ...base, ...start, ...filter, durable_name: c.name }, existing[i] !== undefined);
  }
  for (const r of replaced) {
    try {
      await jsm.consumers.delete(stream, r.name);
      log.logger?.info?.({ durable: log.durable, consumer: r.name, filters: filtersOf(r), startSeq: start.opt_start_seq }, 'consumer of an earlier layout deleted: its successors start where its acks end');
    } catch (err) {
      if (!isNotFound(err)) throw err; // another instance deleted it first
    }
  }
}

/**
 * Consumes events with durable pull consumers on the events stream (see durableConsumers): each message is parsed as
 * JSON and handed to `handler(subject without prefix, payload, meta)`, one at a time, or, with a `batchHandler`, the
 * messages already buffered together to it. Success → ack; a thrown error → nak with exponential backoff (redelivered
 * later); invalid JSON or a PoisonMessageError → logged and terminated (never redelivered). Handlers must be
 * idempotent on `meta.msgId`: delivery is at least once, and events of different filter subjects may arrive in
 * another order than they were published.
 */
export async function consumeDurable(opts: ConsumeDurableOptions): Promise<DurableConsumer> {
  const { nc, prefix, durable, handler, batchHandler, logger } = opts;
  if (!DURABLE.test(durable)) throw new Error(`durable name must match ${DURABLE}: got "${durable}"`);
  if (opts.filterSubjects.length === 0) throw new Error('consumeDurable needs at least one filter subject');
  for (const [i, a] of opts.filterSubjects.entries()) {
    const b = opts.filterSubjects.slice(i + 1).find((s) => subjectsOverlap(a, s));
    if (b !== undefined) throw new Error(`filter subjects "${a}" and "${b}" overlap`);
  }
  const maxBatch = batchHandler ? (opts.maxBatch ?? 64) : 1;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new Error(`maxBatch must be a positive integer: got ${maxBatch}`);
  const stream = eventsStreamName(prefix);
  const server210 = hasFilterSubjects(nc);
  const plan = durableConsumers(durable, opts.filterSubjects, server210);
  const term = (m: JsMsg, reason: string) => (server210 ? m.term(reason) : m.term());
  // each set-up step on its own, so a retried one never repeats a step that took effect (a subscription started)
  const setup = <T>(what: string, step: () => Promise<T>) => retryJetStreamSetup(`${durable}: ${what}`, step, { logger });
  // jetstreamManager asks for the account's JetStream info: an API call like the others
  const jsm = await setup('JetStream account', () => jetstreamManager(nc));
  await setup('consumers', () =>
    ensureConsumers(
      jsm,
      stream,
      { consumers: plan.consumers.map((c) => ({ name: c.name, filters: c.filterSubjects.map((s) => eventSubject(prefix, s)) })), replaces: plan.replaces },
      { ack_policy: AckPolicy.Explicit, ack_wait: nanos(opts.ackWaitMs ?? 30_000), max_deliver: opts.maxDeliver ?? -1 },
      { durable, logger },
    ),
  );

  const js = jetstream(nc);
  const subscriptions: ConsumerMessages[] = [];
  for (const c of plan.consumers) {
    const consumer = await setup(`consumer ${c.name}`, () => js.consumers.get(stream, c.name));
    subscriptions.push(await consumer.consume({ max_messages: opts.batch ?? 64 }));
  }
  const base = opts.nakBaseDelayMs ?? 1_000;
  const cap = opts.nakMaxDelayMs ?? 60_000;
  let stopping = false;

  const parse = (m: JsMsg): ConsumedEvent | undefined => {
    const subject = m.subject.startsWith(prefix) ? m.subject.slice(prefix.length) : m.subject;
    const msgId = m.headers?.get('Nats-Msg-Id') || undefined;
    const created = Date.parse(m.headers?.get(OUTBOX_CREATED_AT_HEADER) ?? '');
    const meta: DeliveryMeta = { msgId, deliveryCount: m.info.deliveryCount, streamSeq: m.seq, ...(Number.isNaN(created) ? {} : { createdAt: new Date(created) }) };
    try {
      return { subject, payload: JSON.parse(m.string()), meta };
    } catch {
      logger?.error({ durable, subject, msgId, streamSeq: m.seq }, 'event is not valid JSON: terminated');
      term(m, 'invalid JSON');
      return undefined;
    }
  };

  const settle = (m: JsMsg, { subject, meta }: ConsumedEvent, err: unknown): void => {
    const { msgId } = meta;
    if (err instanceof PoisonMessageError) {
      logger?.error({ durable, subject, msgId, streamSeq: m.seq, err: err.message }, 'event rejected by its handler: terminated');
      return term(m, err.message);
    }
    const delay = Math.round(Math.random() * Math.min(cap, base * 2 ** Math.min(meta.deliveryCount - 1, 30)));
    logger?.warn({ durable, subject, msgId, deliveryCount: meta.deliveryCount, delayMs: delay, err: err instanceof Error ? err.message : String(err) }, 'event handler failed: will be redelivered');
    m.nak(delay);
  };

  const handleOne = async (m: JsMsg, event: ConsumedEvent): Promise<void> => {
    try {
      await handler(event.subject, event.payload, event.meta);
      m.ack();
    } catch (err) {
      settle(m, event, err);
    }
  };

  const handle = async (batch: JsMsg[]): Promise<void> => {
    const events = batch.flatMap((m) => {
      const event = parse(m);
      return event ? [{ m, event }] : [];
    });
    if (batchHandler && events.length > 1) {
      try {
        const results = await batchHandler(events.map((e) => e.event));
        if (results.length !== events.length) throw new Error(`the batch handler returned ${results.length} results for ${events.length} events`);
        events.forEach(({ m, event }, i) => (results[i] === undefined ? m.ack() : settle(m, event, results[i])));
        return;
      } catch (err) {
        logger?.warn({ durable, events: events.length, err: err instanceof Error ? err.message : String(err) }, 'event batch failed: handling its events one at a time');
      }
    }
    for (const { m, event } of events) {
      // stop() returns what is not yet in hand, as for messages still buffered
      if (stopping) m.nak();
      else await handleOne(m, event);
    }
  };

  // The consumers' messages meet in one queue that one loop drains, so the handlers run one message (or batch) at a
  // time whatever the number of consumers. A subscription stops taking messages while the queue holds a full batch,
  // which leaves JetStream's flow control (pull more when the buffer drains) to bound what is in flight.
  const queue: JsMsg[] = [];
  const arrived = signal();
  const drained = signal();
  let pumping = subscriptions.length;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    drained.notify();
    await Promise.all(subscriptions.map((s) => s.close()));
  };
  const pumps = subscriptions.map(async (messages) => {
    try {
      for await (const m of messages) {
        // Messages buffered when stop() was called go back at once, to this or another instance.
        if (stopping) m.nak();
        else {
          queue.push(m);
          arrived.notify();
          while (queue.length >= maxBatch && !stopping) await drained.wait();
        }
      }
    } catch (err) {
      logger?.error({ durable, err: err instanceof Error ? err.message : String(err) }, 'consumer stopped with an error');
      await shutdown();
    } finally {
      pumping--;
      arrived.notify();
    }
  });
  const work = (async () => {
    for (;;) {
      if (queue.length === 0) {
        if (pumping === 0) return;
        await arrived.wait();
        continue;
      }
      // Let the subscriptions move what has already reached this process into the queue: a tick, never a wait for more.
      if (maxBatch > 1) await new Promise((r) => setImmediate(r));
      const batch = queue.splice(0, stopping ? queue.length : maxBatch);
      drained.notify();
      if (stopping) batch.forEach((m) => m.nak());
      else await handle(batch);
    }
  })().catch((err: unknown) => {
    logger?.error({ durable, err: err instanceof Error ? err.message : String(err) }, 'consumer stopped with an error');
    void shutdown();
  });
  const done = Promise.all([...pumps, work]).then(() => undefined);

  return {
    done,
    async stop() {
      await shutdown();
      await done;
      if (!nc.isClosed()) await nc.flush();
    },
  };
}

/** A promise to wait on that notify() resolves, then replaces with a fresh one. */
function signal(): { wait(): Promise<void>; notify(): void } {
  let resolve!: () => void;
  let promise = new Promise<void>((r) => (resolve = r));
  return {
    wait: () => promise,
    notify() {
      resolve();
      promise = new Promise<void>((r) => (resolve = r));
    },
  };
}
