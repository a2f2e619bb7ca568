import { newId } from '@agentplane/domain';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { z } from 'zod';
import type { EventContract } from '@agentplane/contracts';
import { OUTBOX_CREATED_AT_HEADER } from './jetstream.js';
import { assertPrefix } from './nats.js';
import { publishToStream } from './rpc-client.js';

/** How long a published row is kept by default: 7 days, the events stream's own retention. */
export const OUTBOX_RETENTION_DEFAULT_HOURS = 168;

/** The NOTIFY channel a relay LISTENs on (see `writeOutbox(…, { notify: true })`). */
export const OUTBOX_CHANNEL = 'outbox';

/** The raw-SQL surface of a Prisma client or of its interactive transaction (`tx`). */
export interface OutboxSql {
  $executeRaw(query: TemplateStringsArray, ...values: unknown[]): PromiseLike<number>;
  $queryRaw<T = unknown>(query: TemplateStringsArray, ...values: unknown[]): PromiseLike<T>;
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>;
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): PromiseLike<T>;
}

/**
 * The relay's claim: the oldest unpublished rows ($2 at most) but those backing off ($1), locked. It also switches the
 * rest of its transaction to plans made for each execution (`plan_cache_mode`): the statements are prepared once per
 * connection, and the marks below, prepared while the table was small, kept a generic plan that scanned the whole
 * table, published rows included (kept for days), once per batch. A plan made with the batch's ids in hand probes the
 * primary key. The claim itself only reads the partial index of unpublished rows.
 */
export const CLAIM_PENDING = `
SELECT id::text AS id, subject, payload, headers, attempts, created_at, more
  FROM outbox, (SELECT set_config('plan_cache_mode', 'force_custom_plan', true)) AS custom_plans
 WHERE published_at IS NULL AND NOT (id = ANY($1::uuid[]))
 ORDER BY created_at
 LIMIT $2
   FOR UPDATE OF outbox SKIP LOCKED`;

/**
 * The rows published ($1), with their `more` messages (more_published_at: the constraint ck_outbox_more_published
 * refuses a mark without it, which is how a relay that does not know `more` fails instead of dropping them). Committed
 * without waiting for the WAL flush: a mark lost in a server crash only republishes rows under the same Nats-Msg-Id,
 * which JetStream's duplicate window and the consumers' applied-event ids absorb.
 */
export const MARK_PUBLISHED = `
UPDATE outbox SET published_at = now(), more_published_at = CASE WHEN more IS NULL THEN NULL ELSE now() END,
       attempts = attempts + 1, last_error = NULL
  FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
 WHERE id = ANY($1::uuid[])`;

/** The rows whose publish failed ($1), each with its error ($2). */
export const MARK_FAILED = `
UPDATE outbox AS o SET attempts = o.attempts + 1, last_error = f.err
  FROM unnest($1::uuid[], $2::text[]) AS f(id, err)
 WHERE o.id = f.id`;

/** A Prisma client (or anything shaped like one): raw SQL and interactive transactions. */
export interface OutboxClient extends OutboxSql {
  $transaction<R>(fn: (tx: OutboxSql) => Promise<R>, options?: { maxWait?: number; timeout?: number }): Promise<R>;
}

export interface OutboxEvent {
  /** The contract subject without any deployment prefix, e.g. `events.tasks.resource_registered`. */
  subject: string;
  /** Any JSON value; stored as jsonb and published as its JSON text. */
  payload: unknown;
  /** Extra NATS headers (e.g. `x-request-id`). `Nats-Msg-Id` is the outbox id and cannot be set here. */
  headers?: Record<string, string>;
}

const EVENT_SUBJECT = /^events(\.[A-Za-z0-9_-]+)+$/;

/**
 * Writes an event into the outbox inside the caller's transaction (`prisma.$transaction(async (tx) => …)`): it
 * commits or rolls back with the business change, and the relay publishes it after commit. Returns the outbox id,
 * which becomes the message's `Nats-Msg-Id`. `notify` also wakes relays that LISTEN (at the cost of PostgreSQL
 * serialising the commits of notifying transactions); without it relays find the row on their next poll.
 */
export async function writeOutbox(tx: OutboxSql, event: OutboxEvent, opts: { notify?: boolean } = {}): Promise<string> {
  const row = outboxRow(event);
  await tx.$executeRaw`INSERT INTO outbox (id, subject, payload, headers) VALUES (${row.id}::uuid, ${row.subject}, ${JSON.stringify(row.payload)}::jsonb, ${JSON.stringify(row.headers)}::jsonb)`;
  if (opts.notify) await tx.$executeRaw`SELECT pg_notify('outbox', '')`;
  return row.id;
}

/**
 * A new outbox id written in SQL, for a statement that makes its outbox rows itself (one per row it returns): a UUIDv7
 * as `newId` makes them (the clock's milliseconds in the first 48 bits, then random bits, version 7), so that the
 * outbox's primary key takes new ids at its right-hand edge instead of at random pages. PostgreSQL 15 has no
 * `uuidv7()`: this stamps the time over a `gen_random_uuid()` and turns its version 4 into 7.
 */
export const NEW_OUTBOX_ID_SQL = `encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
  placing substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3) FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid`;

/**
 * An outbox row as `writeOutbox` inserts it: a new id (the future `Nats-Msg-Id`), the subject, payload and headers. The
 * same shape is an element of a row's `more` column: a further message of the same transaction, published after the
 * row's own under its own id (one row where there would be several: issue 19; docs/outbox.md).
 */
export interface OutboxRow {
  id: string;
  subject: string;
  payload: unknown;
  headers: Record<string, string>;
}

/**
 * The row `writeOutbox` would insert for `event`, checked the same way, for a caller that inserts it within a
 * statement of its own (several writes in one round trip: issue 19). It must still be inserted in the business
 * transaction, into the same `outbox` table.
 */
export function outboxRow(event: OutboxEvent): OutboxRow {
  if (!EVENT_SUBJECT.test(event.subject)) throw new Error(`outbox subject must look like events.<service>.<type>: got "${event.subject}"`);
  const headers = event.headers ?? {};
  if (Object.keys(headers).some((k) => k.toLowerCase() === 'nats-msg-id')) throw new Error('Nats-Msg-Id is the outbox id; do not set it');
  if (JSON.stringify(event.payload) === undefined) throw new Error('outbox payload must be a JSON value');
  return { id: newId(), subject: event.subject, payload: event.payload, headers };
}

/** `writeOutbox` for a contract event: the payload is parsed with the contract's schema first (a bad one throws). */
export function writeOutboxEvent<P extends z.ZodType>(
  tx: OutboxSql,
  contract: EventContract<P>,
  payload: z.input<P>,
  opts: { headers?: Record<string, string>; notify?: boolean } = {},
): Promise<string> {
  return writeOutbox(tx, { subject: contract.subject, payload: contract.payload.parse(payload), headers: opts.headers }, { notify: opts.notify });
}

/** `outboxRow` for a contract event, its payload parsed with the contract's schema (a bad one throws). */
export function outboxEventRow<P extends z.ZodType>(contract: EventContract<P>, payload: z.input<P>, opts: { headers?: Record<string, string> } = {}): OutboxRow {
  return outboxRow({ subject: contract.subject, payload: contract.payload.parse(payload), headers: opts.headers });
}

/**
 * The outbox's registrations (`$1`, a service's `resource_registered` subject) for tenant `$2` and resource type `$3`,
 * sorting after `$4`, not yet published or published within the last `$5` ms, at most `$6`: those authz-proxy may not
 * have applied yet (DESIGN §3; `<svc>.internal.v1.pending_registrations`). A resource whose deregistration (`$7`) is
 * among them is gone already and left out. Each row's own message and those of its `more`; the rows are found by the
 * two partial indexes (unpublished; published since), never by a scan of the rows kept for retention. The
 * deregistrations are left out by a hashed NOT IN: NOT EXISTS planned a nested loop (162 ms for 2,000 messages in the
 * window, against 10 ms).
 */
export const PENDING_REGISTRATIONS = `
WITH recent AS MATERIALIZED (
  SELECT m.subject, m.payload->>'resource' AS resource, m.payload
    FROM outbox o
   CROSS JOIN LATERAL (SELECT o.subject, o.payload
                       UNION ALL
                       SELECT e->>'subject', e->'payload' FROM jsonb_array_elements(o.more) AS e) AS m(subject, payload)
   WHERE (o.published_at IS NULL OR o.published_at > now() - make_interval(secs => $5::int / 1000.0))
     AND m.subject IN ($1, $7) AND split_part(m.payload->>'resource', ':', 1) = $3 AND m.payload->>'resource' > $4
)
SELECT r.payload FROM recent r
 WHERE r.subject = $1 AND r.payload->>'tenant' = $2
   AND r.resource NOT IN (SELECT d.resource FROM recent d WHERE d.subject = $7)
 ORDER BY r.resource
 LIMIT $6`;

export interface PendingRegistrationsQuery {
  type: string;
  /** Only resources sorting after this ref ('' for all). */
  after?: string;
  publishedWithinMs: number;
  limit: number;
}

/** A service's registration events (its contracts' `resourceRegistered` and `resourceDeregistered`). */
export interface RegistrationEvents {
  resourceRegistered: { subject: string };
  resourceDeregistered: { subject: string };
}

/** A registration as its event states it (the fields authz-proxy registers; any other field is left out). */
export interface PendingRegistration {
  resource: string;
  tenant: string;
  owner?: string;
  parent?: string;
}

/**
 * The registrations (`events`, the service's own) of `q.type` in `tenant` still in the outbox or published lately
 * (PENDING_REGISTRATIONS), in resource order, at most `q.limit`; `truncated` when there were more.
 */
export async function pendingRegistrations(
  sql: Pick<OutboxSql, '$queryRawUnsafe'>,
  events: RegistrationEvents,
  tenant: string,
  q: PendingRegistrationsQuery,
): Promise<{ registrations: PendingRegistration[]; truncated: boolean }> {
  const { resourceRegistered: registered, resourceDeregistered: deregistered } = events;
  const rows = await sql.$queryRawUnsafe<Array<{ payload: PendingRegistration }>>(PENDING_REGISTRATIONS, registered.subject, tenant, q.type, q.after ?? '', q.publishedWithinMs, q.limit + 1, deregistered.subject);
  const registrations = rows.slice(0, q.limit).map(({ payload: { resource, tenant, owner, parent } }) => ({ resource, tenant, ...(owner ? { owner } : {}), ...(parent ? { parent } : {}) }));
  return { registrations, truncated: rows.length > q.limit };
}

export interface RelayLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface OutboxRelayOptions {
  client: OutboxClient;
  /** The connection the relay publishes on (JetStream publishes with PubAcks: publishToStream). */
  nc: NatsConnection;
  /** The NATS subject prefix of this deployment ('' in production); outbox rows hold unprefixed subjects. */
  prefix: string;
  /** Rows claimed per transaction. Default 100. */
  batchSize?: number;
  /** Pause between polls when the outbox is drained. Default 200 ms. */
  pollIntervalMs?: number;
  /** Per-message PubAck timeout. Default 5 s. */
  publishTimeoutMs?: number;
  /** Cap of the backoff after failures (per row, and for the whole loop when nothing could be published). Default 30 s. */
  maxBackoffMs?: number;
  /** A failed row is not claimed again for a random time up to `retryBaseMs × 2^attempts` (capped), and never under `retryBaseMs` (at most `maxBackoffMs`). Default 500 ms. */
  retryBaseMs?: number;
  /** Prometheus registry for outbox_published_total, outbox_publish_failures_total, outbox_pending. */
  registry?: Registry;
  logger?: RelayLogger;
  /** Run before the first batch, retried until it succeeds (e.g. `() => awaitEventsStream(nc, prefix)`). */
  ensureStream?: () => Promise<void>;
  /** A PostgreSQL URL to LISTEN on the `outbox` channel with: relays wake at once on `writeOutbox(…, {notify})`. */
  listenUrl?: string;
  /**
   * Hours a published row is kept (an audit trail) before the relay deletes it; 0 keeps every row. Default
   * OUTBOX_RETENTION_DEFAULT_HOURS (an event older than that cannot be replayed from JetStream either).
   */
  retentionHours?: number;
  /** How often the relay deletes published rows past their retention. Default 60 s. */
  pruneIntervalMs?: number;
  /** Rows deleted per statement when pruning. Default 1,000. */
  pruneBatchSize?: number;
}

export interface BatchResult {
  claimed: number;
  published: number;
  failed: number;
}

interface ClaimedRow {
  id: string;
  subject: string;
  payload: unknown;
  headers: Record<string, string> | null;
  attempts: number;
  created_at: Date;
  /** Further messages, published after the row's own (OutboxRow each). */
  more: OutboxRow[] | null;
}


const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Full jitter: random up to `base × 2^attempt` (capped), and never under `floor`. */
function backoff(attempt: number, base: number, cap: number, floor = 0): number {
  return Math.max(floor, Math.round(Math.random() * Math.min(cap, base * 2 ** Math.min(attempt, 30))));
}

function messageOf(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 1000);
}

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/**
 * Publishes committed outbox rows to JetStream. Each batch runs in one transaction: claim the oldest unpublished
 * rows `FOR UPDATE SKIP LOCKED` (so relays in several processes share the work and never hold the same row),
 * publish each with `Nats-Msg-Id` = outbox id (then the messages of its `more`, each under its own id) and wait for
 * the PubAcks, mark the rows whose every message was acknowledged published,
 * record attempts and the error on the others, commit. A crash after a publish and before the commit leaves the
 * row unpublished; its republish carries the same id and JetStream drops it within the duplicate window.
 */
export class OutboxRelay {
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly publishTimeoutMs: number;
  private readonly maxBackoffMs: number;
  private readonly retryBaseMs: number;
  /** Rows that failed to publish, with the time before which this relay does not claim them again. */
  private readonly retryAfter = new Map<string, number>();
  private readonly retentionHours: number;
  private readonly pruneIntervalMs: number;
  private readonly pruneBatchSize: number;
  private nextPruneAt = 0;
  private pruning?: Promise<void>;
  private readonly published?: Counter<'subject'>;
  private readonly failures?: Counter<'subject'>;
  private readonly pruned?: Counter;
  private loop?: Promise<void>;
  private stopping = false;
  private wakeUp?: () => void;
  private wakePending = false;
  private listener?: pg.Client;
  private streamReady = false;

  constructor(private readonly opts: OutboxRelayOptions) {
    assertPrefix(opts.prefix);
    this.batchSize = opts.batchSize ?? 100;
    this.pollIntervalMs = opts.pollIntervalMs ?? 200;
    this.publishTimeoutMs = opts.publishTimeoutMs ?? 5_000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 30_000;
    this.retryBaseMs = opts.retryBaseMs ?? 500;
    this.retentionHours = opts.retentionHours ?? OUTBOX_RETENTION_DEFAULT_HOURS;
    this.pruneIntervalMs = opts.pruneIntervalMs ?? 60_000;
    this.pruneBatchSize = opts.pruneBatchSize ?? 1_000;
    if (!Number.isInteger(this.retentionHours) || this.retentionHours < 0) throw new Error('outbox retentionHours must be a non-negative integer');
    // The floor of a failed row's backoff may not pass its cap: the row would wait longer than maxBackoffMs says.
    if (!(this.retryBaseMs >= 0 && this.retryBaseMs <= this.maxBackoffMs)) throw new Error(`outbox retryBaseMs must be between 0 and maxBackoffMs (${this.maxBackoffMs}), got ${this.retryBaseMs}`);
    const registry = opts.registry;
    if (registry) {
      this.published = metric(registry, 'outbox_published_total', () => new Counter({ name: 'outbox_published_total', help: 'Outbox messages published to JetStream and marked sent (a row and each message of its more), by subject', labelNames: ['subject'], registers: [registry] }));
      this.failures = metric(registry, 'outbox_publish_failures_total', () => new Counter({ name: 'outbox_publish_failures_total', help: 'Failed publishes of outbox rows (retried with backoff), by subject', labelNames: ['subject'], registers: [registry] }));
      this.pruned = metric(registry, 'outbox_pruned_total', () => new Counter({ name: 'outbox_pruned_total', help: 'Published outbox rows deleted past their retention', registers: [registry] }));
      const client = opts.client;
      metric(registry, 'outbox_pending', () => new Gauge({
        name: 'outbox_pending',
        help: 'Outbox rows not yet published',
        registers: [registry],
        async collect() {
          try {
            const [row] = await client.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL`;
            this.set(row.n);
          } catch {
            // database unavailable: keep the last value; readiness reports the database
          }
        },
      }));
    }
  }

  get running(): boolean {
    return this.loop !== undefined;
  }

  /** Starts the relay loop in the background (no-op if running). */
  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.loop = this.run().finally(() => (this.loop = undefined));
    if (this.opts.listenUrl) void this.listen(this.opts.listenUrl);
  }

  /** Ends the poll wait at once (e.g. after committing a transaction that wrote to the outbox). */
  wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.wakePending = true;
  }

  /** Finishes the batch in hand and stops; resolves when the loop has ended. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeUp?.();
    await this.loop;
    await this.pruning;
    const l = this.listener;
    this.listener = undefined;
    await l?.end().catch(() => undefined);
  }

  /** One claim → publish → mark transaction. Exposed for tests and for callers that want to flush now. */
  async relayBatch(): Promise<BatchResult> {
    const now = Date.now();
    for (const [id, t] of this.retryAfter) if (t <= now) this.retryAfter.delete(id);
    const skip = [...this.retryAfter.keys()];
    const { client, nc, prefix } = this.opts;
    return client.$transaction(
      async (tx) => {
        const rows = await tx.$queryRawUnsafe<ClaimedRow[]>(CLAIM_PENDING, skip, this.batchSize);
        if (rows.length === 0) return { claimed: 0, published: 0, failed: 0 };
        // Sent back to back on one connection (in created_at order, a row's `more` right after it), acknowledged in
        // parallel. A row counts as published once all its messages are.
        const publish = (m: Pick<ClaimedRow, 'id' | 'subject' | 'payload' | 'headers'>, createdAt: string) => {
          const h = natsHeaders();
          for (const [k, v] of Object.entries(m.headers ?? {})) h.set(k, String(v));
          h.set(OUTBOX_CREATED_AT_HEADER, createdAt);
          return publishToStream(nc, `${prefix}${m.subject}`, JSON.stringify(m.payload), { msgID: m.id, headers: h, timeout: this.publishTimeoutMs });
        };
        const results = await Promise.allSettled(
          rows.map(async (row) => {
            const createdAt = new Date(row.created_at).toISOString();
            const acks = await Promise.allSettled([row, ...(row.more ?? [])].map((m) => publish(m, createdAt)));
            const failed = acks.find((a) => a.status === 'rejected');
            if (failed) throw failed.reason;
          }),
        );
        const ok: string[] = [];
        const failedIds: string[] = [];
        const errors: string[] = [];
        results.forEach((r, i) => {
          const row = rows[i];
          if (r.status === 'fulfilled') {
            ok.push(row.id);
            this.published?.inc({ subject: row.subject });
            for (const m of row.more ?? []) this.published?.inc({ subject: m.subject });
          } else {
            failedIds.push(row.id);
            errors.push(messageOf(r.reason));
            this.failures?.inc({ subject: row.subject });
            this.retryAfter.set(row.id, Date.now() + backoff(row.attempts + 1, this.retryBaseMs, this.maxBackoffMs, this.retryBaseMs));
          }
        });
        if (ok.length) {
          await tx.$executeRawUnsafe(MARK_PUBLISHED, ok);
        }
        if (failedIds.length) {
          await tx.$executeRawUnsafe(MARK_FAILED, failedIds, errors);
          this.opts.logger?.warn({ failed: failedIds.length, claimed: rows.length, err: errors[0] }, 'outbox: publish failed, will retry');
        }
        // Bounded memory if JetStream is down for long: forgetting a backoff only means an earlier retry.
        if (this.retryAfter.size > 10_000) this.retryAfter.clear();
        return { claimed: rows.length, published: ok.length, failed: failedIds.length };
      },
      // Row locks are held while publishing: allow every PubAck its timeout.
      { maxWait: 10_000, timeout: this.publishTimeoutMs + 15_000 },
    );
  }

  /**
   * Deletes published rows older than the retention, oldest first, in batches (each its own statement, `SKIP
   * LOCKED`, so relays in several processes never wait on each other); returns how many. Unpublished rows are never
   * touched, whatever their age. A no-op when the retention is 0.
   */
  async prunePublished(maxBatches = 100): Promise<number> {
    if (this.retentionHours === 0) return 0;
    let total = 0;
    for (let i = 0; i < maxBatches; i++) {
      const n = await this.opts.client.$executeRaw`
        DELETE FROM outbox WHERE id IN (
          SELECT id FROM outbox
           WHERE published_at IS NOT NULL AND published_at < now() - make_interval(hours => ${this.retentionHours}::int)
           ORDER BY published_at
           LIMIT ${this.pruneBatchSize}::int
             FOR UPDATE SKIP LOCKED)`;
      total += n;
      if (n < this.pruneBatchSize) break;
    }
    if (total > 0) this.pruned?.inc(total);
    return total;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      let idle = true;
      try {
        if (!this.streamReady && this.opts.ensureStream) await this.opts.ensureStream();
        this.streamReady = true;
        if (this.retentionHours > 0 && !this.pruning && Date.now() >= this.nextPruneAt) {
          this.nextPruneAt = Date.now() + this.pruneIntervalMs;
          // Beside the batches, on a connection of its own, so a long backlog of old rows never holds up publishing;
          // a failed prune is retried at the next interval.
          this.pruning = this.prunePublished()
            .then(() => undefined, (err: unknown) => this.opts.logger?.warn({ err: messageOf(err) }, 'outbox: pruning published rows failed'))
            .finally(() => (this.pruning = undefined));
        }
        const r = await this.relayBatch();
        if (r.claimed > 0 && r.published === 0) failures++;
        else failures = 0;
        idle = r.claimed < this.batchSize;
      } catch (err) {
        failures++;
        this.opts.logger?.error({ err: messageOf(err), failures }, 'outbox: relay batch failed, backing off');
      }
      if (this.stopping) break;
      if (failures > 0) await this.pause(backoff(failures, 250, this.maxBackoffMs), false);
      else if (idle) await this.pause(this.pollIntervalMs, true);
    }
  }

  /** Sleeps `ms`; stop() always ends it early, wake() only when `wakeable` (never shortening a failure backoff). */
  private pause(ms: number, wakeable: boolean): Promise<void> {
    if (wakeable && this.wakePending) {
      this.wakePending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = wakeable ? done : () => void (this.stopping && done());
    });
  }

  private async listen(url: string): Promise<void> {
    while (!this.stopping) {
      const c = new pg.Client({ connectionString: url, application_name: 'agentplane-outbox-listen' });
      const ended = new Promise<void>((resolve) => {
        c.on('error', (err) => {
          this.opts.logger?.warn({ err: messageOf(err) }, 'outbox: LISTEN connection lost');
          resolve();
        });
        c.on('end', () => resolve());
      });
      c.on('notification', () => this.wake());
      try {
        await c.connect();
        await c.query(`LISTEN ${OUTBOX_CHANNEL}`);
        this.listener = c;
        // A row committed while no LISTEN was in place (before the first connect, or while reconnecting) sent its
        // NOTIFY to nobody: look once now, instead of at the next poll.
        this.wake();
        if (this.stopping) await c.end();
        await ended;
      } catch (err) {
        this.opts.logger?.warn({ err: messageOf(err) }, 'outbox: LISTEN failed; polling only until it reconnects');
        await c.end().catch(() => undefined);
      }
      if (!this.stopping) await sleep(1_000);
    }
  }
}
