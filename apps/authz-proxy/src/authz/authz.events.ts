import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import { Counter, Histogram } from 'prom-client';
import { isDomainError } from '@agentplane/domain';
import { RESOURCE_EVENT_TYPES, ResourceDeregisteredPayload, ResourceRegisteredPayload, ResourceReparentedPayload } from '@agentplane/contracts';
import {
  NATS_CONNECTION,
  NATS_OPTIONS,
  PoisonMessageError,
  consumeDurable,
  awaitEventsStream,
  eventsStreamName,
  type ConsumedEvent,
  type DeliveryMeta,
  type DurableConsumer,
} from '@agentplane/messaging';
import { MetricsRegistry } from '@agentplane/observability';
import { DatabaseClock } from '@agentplane/service-shell';
import { AUTHZ_SETTINGS, type AuthzSettings } from '../config.js';
import { ForeignParentError, TuplesRepository, type ResourceEvent } from './tuples.repository.js';

/** Events applied in one transaction at most: what the consumer has buffered, never waited for. */
export const MAX_BATCH = 64;

export const EVENT_SUBJECTS = Object.values(RESOURCE_EVENT_TYPES).map((type) => `events.*.${type}`);

/**
 * Which service may state facts about which resource types (DESIGN §2.1, events checked by origin): the subject's
 * second token (`events.<origin>.<type>`) names the publisher, and the bus lets each service publish only its own.
 * A compromised service can at worst misstate its own resources.
 */
export const RESOURCE_TYPES_BY_ORIGIN: Readonly<Record<string, readonly string[]>> = {
  tasks: ['task', 'agent'],
  'hook-registry': ['hook', 'release', 'run'],
  workspaces: ['workspace'],
};

/** Why an event's origin may not state a fact about its resource, or undefined when it may. */
export function originViolation(subject: string, payload: unknown): string | undefined {
  const origin = subject.split('.')[1] ?? '';
  const resource = typeof payload === 'object' && payload !== null ? (payload as { resource?: unknown }).resource : undefined;
  if (typeof resource !== 'string') return undefined; // the payload's schema rejects it
  const type = resource.slice(0, resource.indexOf(':'));
  const allowed = RESOURCE_TYPES_BY_ORIGIN[origin];
  if (!allowed) return `events from "${origin}" state no resource facts`;
  return allowed.includes(type) ? undefined : `"${origin}" may not state facts about ${type} resources`;
}

/**
 * The durable JetStream consumer of `events.*.resource_registered` / `resource_deregistered` / `resource_reparented` (e.g. from the tasks
 * outbox). Each event is applied at most once: its id (`Nats-Msg-Id`, else its stream sequence) is recorded in the
 * same transaction as the tuples, so a redelivery changes nothing. The events that arrive together are applied in
 * one transaction (handleBatch); one at a time (handle) when alone, or when their batch fails.
 *
 * The events of one resource may be applied in another order than they were written: each event type rides its own
 * JetStream consumer on nats-server < 2.10, and any event is redelivered after a failure. The tuples end up as in
 * order all the same: a registration or reparent naming a resource or parent not registered yet is retried until it
 * is (NOT_FOUND); a deregistration is recorded, so that a registration or reparent written before it and arriving
 * after it is 'stale' and changes nothing, and a child's registration overtaken by its parent's deregistration still
 * lands (TuplesRepository.deregisterEvents); a reparent written before the parent tuple's registration or reparent
 * is 'stale' too (TuplesRepository.reparent). One naming another tenant's parent never applies: it is rejected.
 */
@Injectable()
export class ResourceEventsConsumer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('authz-events');
  private readonly events: Counter<'type' | 'outcome'>;
  private readonly lag: Histogram<'type'>;
  private consumer?: DurableConsumer;

  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(NATS_OPTIONS) private readonly nats: { prefix: string; streamReplicas?: number },
    @Inject(AUTHZ_SETTINGS) private readonly settings: AuthzSettings,
    private readonly tuples: TuplesRepository,
    registry: MetricsRegistry,
    private readonly clock: DatabaseClock,
  ) {
    this.events = new Counter({
      name: 'authz_events_total',
      help: 'Resource events consumed, by type and outcome (applied|duplicate|stale|rejected|failed)',
      labelNames: ['type', 'outcome'],
      registers: [registry],
    });
    this.lag = new Histogram({
      name: 'authz_registration_lag_seconds',
      help: 'From a resource event\'s outbox row (written with the change) to its tuples applied here, by event type',
      labelNames: ['type'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    });
  }

  /**
   * From the outbox row's time (the owning service's database's clock) to now by this instance's database clock, so a
   * host clock that is off does not show as lag (or hide it).
   */
  private observeLag(type: string, createdAt: Date): void {
    this.lag.observe({ type }, Math.max(0, (this.clock.now().getTime() - createdAt.getTime()) / 1000));
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.settings.events.enabled) return;
    const logger = { info: (o: object, m: string) => this.logger.log(o, m), warn: (o: object, m: string) => this.logger.warn(o, m), error: (o: object, m: string) => this.logger.error(o, m) };
    // operators create the stream (ops identity); this service only checks it, and waits while it is missing or wrong
    await awaitEventsStream(this.nc, this.nats.prefix, { retry: { logger } });
    this.consumer = await consumeDurable({
      nc: this.nc,
      prefix: this.nats.prefix,
      durable: this.settings.events.durable,
      filterSubjects: EVENT_SUBJECTS,
      ackWaitMs: this.settings.events.ackWaitMs,
      handler: (subject, payload, meta) => this.handle(subject, payload, meta),
      batchHandler: (events) => this.handleBatch(events),
      maxBatch: MAX_BATCH,
      logger,
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.consumer?.stop();
  }

  async handle(subject: string, payload: unknown, meta: DeliveryMeta): Promise<void> {
    const type = typeOf(subject);
    try {
      const event = this.decode(subject, payload, meta);
      const outcome = await this.apply(event);
      this.events.inc({ type, outcome });
      if (outcome === 'applied' && meta.createdAt) this.observeLag(type, meta.createdAt);
    } catch (err) {
      // A missing parent may still arrive (events of one resource tree can be redelivered out of order): retry.
      // Anything else a use case refuses (another tenant's parent, a conflicting re-registration) never will.
      if (err instanceof ForeignParentError) {
        this.events.inc({ type, outcome: 'rejected' });
        throw new PoisonMessageError("FOREIGN_PARENT: the parent is another tenant's");
      }
      if (err instanceof PoisonMessageError || (isDomainError(err) && err.code !== 'NOT_FOUND' && err.code !== 'UNAVAILABLE')) {
        this.events.inc({ type, outcome: 'rejected' });
        throw err instanceof PoisonMessageError ? err : new PoisonMessageError(`${err.code}: ${err.message}`);
      }
      this.events.inc({ type, outcome: 'failed' });
      throw err;
    }
  }

  /**
   * The events that arrived together, in one transaction: those that can never apply (origin, schema) are rejected
   * first, the others applied by TuplesRepository.applyBatchOnce. When that throws (one event would fail, or the
   * database), nothing is counted here: the consumer hands each event to handle(), which counts and settles it.
   */
  async handleBatch(batch: ConsumedEvent[]): Promise<Array<Error | undefined>> {
    const decoded = batch.map(({ subject, payload, meta }) => {
      try {
        return this.decode(subject, payload, meta);
      } catch (err) {
        if (err instanceof PoisonMessageError) return err;
        throw err;
      }
    });
    const events = decoded.filter((d): d is ResourceEvent => !(d instanceof PoisonMessageError));
    const outcomes = events.length > 0 ? await this.tuples.applyBatchOnce(events, this.settings.maxDepth) : [];
    let next = 0;
    return batch.map(({ subject, meta }, i) => {
      const type = typeOf(subject);
      const d = decoded[i];
      if (d instanceof PoisonMessageError) {
        this.events.inc({ type, outcome: 'rejected' });
        return d;
      }
      const outcome = outcomes[next++] ?? 'duplicate';
      this.events.inc({ type, outcome });
      if (outcome === 'applied' && meta.createdAt) this.observeLag(type, meta.createdAt);
      return undefined;
    });
  }

  /** The event to apply, or a PoisonMessageError when its origin may not state it or its payload is not one. */
  private decode(subject: string, payload: unknown, meta: DeliveryMeta): ResourceEvent {
    const type = typeOf(subject);
    const eventId = meta.msgId ?? `${eventsStreamName(this.nats.prefix)}#${meta.streamSeq}`;
    const violation = originViolation(subject, payload);
    if (violation) {
      this.logger.warn({ subject, msgId: meta.msgId, reason: violation }, 'event rejected by origin');
      throw new PoisonMessageError(`origin: ${violation}`);
    }
    if (type === RESOURCE_EVENT_TYPES.registered) {
      const r = ResourceRegisteredPayload.safeParse(payload);
      if (!r.success) throw new PoisonMessageError(`invalid ${type} payload: ${r.error.issues[0]?.message ?? 'invalid'}`);
      return { eventId, subject, at: meta.createdAt, kind: 'register', registration: r.data };
    }
    if (type === RESOURCE_EVENT_TYPES.reparented) {
      const m = ResourceReparentedPayload.safeParse(payload);
      if (!m.success) throw new PoisonMessageError(`invalid ${type} payload: ${m.error.issues[0]?.message ?? 'invalid'}`);
      return { eventId, subject, at: meta.createdAt, kind: 'reparent', ...m.data };
    }
    const r = ResourceDeregisteredPayload.safeParse(payload);
    if (!r.success) throw new PoisonMessageError(`invalid ${type} payload: ${r.error.issues[0]?.message ?? 'invalid'}`);
    return { eventId, subject, at: meta.createdAt, kind: 'deregister', resource: r.data.resource };
  }

  private apply(e: ResourceEvent): Promise<'applied' | 'duplicate' | 'stale'> {
    const { maxDepth } = this.settings;
    if (e.kind === 'register') return this.tuples.applyOnce(e.eventId, e.subject, (tx) => this.tuples.register(tx, e.registration, maxDepth, { at: e.at }));
    if (e.kind === 'reparent') return this.tuples.applyOnce(e.eventId, e.subject, (tx) => this.tuples.reparent(tx, e, maxDepth, { at: e.at }));
    return this.tuples.applyOnce(e.eventId, e.subject, (tx) => this.tuples.deregisterEvents(tx, [e]));
  }
}

/** `events.<origin>.<type>` → `<type>`, the metrics' label. */
function typeOf(subject: string): string {
  return subject.slice(subject.lastIndexOf('.') + 1);
}
