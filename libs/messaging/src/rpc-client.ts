import { createInbox, headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { PayloadTooLargeException } from '@nestjs/common';
import { DomainError } from '@agentplane/domain';
import { EnvelopeSchema, HEADERS, type ReplyOf, type RequestOf, type RpcContract } from '@agentplane/contracts';

export interface CallContext {
  /** The caller's raw bearer token, forwarded as is: each service verifies it itself. */
  token?: string;
  idempotencyKey?: string;
  requestId?: string;
  timeoutMs?: number;
}

export interface RpcResult<T> {
  data: T;
  /** The service replayed a stored response for this idempotency key. */
  replayed: boolean;
}

interface Pending {
  resolve(msg: Msg): void;
  reject(err: Error): void;
  deadline: number;
  subject: string;
}

/** How often outstanding requests are checked for their deadline (a timeout fires up to this much late). */
const TIMEOUT_TICK_MS = 25;

/**
 * Requests multiplexed on one reply subscription (`<inbox prefix>.<id>.*`, inside the identity's own inbox space:
 * DESIGN §2.1), like nats.js's own `request`, without what it costs per call (issue 19): nats.js builds an Error with
 * a stack trace for every request, even one answered in time, plus a timer and a Promise.race; here a request is a
 * map entry, and one coarse timer sweeps the deadlines. A reply with no data and status 503 is the server saying no
 * one subscribes to the subject. Errors carry nats.js's messages (`timeout`, `no responders: '<subject>'`).
 */
export class RequestMux {
  private readonly pending = new Map<string, Pending>();
  private readonly base: string;
  private readonly sub: Subscription;
  private seq = 0;
  private timer?: NodeJS.Timeout;

  constructor(private readonly nc: NatsConnection) {
    const inboxPrefix = (nc as unknown as { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
    this.base = `${createInbox(inboxPrefix)}.`;
    this.sub = nc.subscribe(`${this.base}*`, { callback: (err, msg) => (err ? this.failAll(err) : this.onReply(msg)) });
    void nc.closed().then(() => this.failAll(new Error('connection closed')));
  }

  request(subject: string, data: string, opts: { timeout: number; headers?: MsgHdrs }): Promise<Msg> {
    if (this.nc.isClosed()) return Promise.reject(new Error('connection closed'));
    const token = (++this.seq).toString(36);
    return new Promise<Msg>((resolve, reject) => {
      this.pending.set(token, { resolve, reject, deadline: Date.now() + opts.timeout, subject });
      try {
        this.nc.publish(subject, data, { reply: `${this.base}${token}`, headers: opts.headers });
      } catch (err) {
        this.pending.delete(token);
        reject(err as Error);
        return;
      }
      this.timer ??= setInterval(() => this.expire(), TIMEOUT_TICK_MS);
    });
  }

  private onReply(msg: Msg): void {
    const token = msg.subject.slice(this.base.length);
    const p = this.pending.get(token);
    if (!p) return; // answered after its timeout
    this.pending.delete(token);
    if (msg.data.length === 0 && msg.headers?.code === 503) p.reject(new Error(`no responders: '${p.subject}'`));
    else p.resolve(msg);
    this.idle();
  }

  private expire(): void {
    const now = Date.now();
    for (const [token, p] of this.pending) {
      if (p.deadline > now) continue;
      this.pending.delete(token);
      p.reject(new Error('timeout'));
    }
    this.idle();
  }

  private idle(): void {
    if (this.pending.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.idle();
  }

  close(): void {
    this.sub.unsubscribe();
    this.failAll(new Error('closed'));
  }
}

/** One mux per connection, made on first use. */
const muxes = new WeakMap<NatsConnection, RequestMux>();
function muxOf(nc: NatsConnection): RequestMux {
  let mux = muxes.get(nc);
  if (!mux) {
    mux = new RequestMux(nc);
    muxes.set(nc, mux);
  }
  return mux;
}

/** A stream's acknowledgement of a published message (JetStream's PubAck). */
export interface PubAck {
  stream: string;
  seq: number;
  /** The stream already held a message with this `Nats-Msg-Id` (within its duplicate window): nothing was stored. */
  duplicate: boolean;
}

/**
 * A JetStream publish on the connection's RequestMux (issue 19): the message with its `Nats-Msg-Id` (the stream's
 * de-duplication key) and headers, answered by the stream's PubAck, as nats.js's `js.publish` sends and reads it, but
 * without the Error with a stack trace that nats.js builds for every request it answers (4 % of tasks' CPU under the
 * create load, for the outbox relay's publishes). A stream error (`{"error": …}`) or an ack naming no stream throws;
 * so does a timeout, or no stream capturing the subject (`no responders`).
 */
export async function publishToStream(
  nc: NatsConnection,
  subject: string,
  data: string,
  opts: { msgID: string; headers?: MsgHdrs; timeout: number },
): Promise<PubAck> {
  const h = opts.headers ?? natsHeaders();
  h.set('Nats-Msg-Id', opts.msgID);
  const msg = await muxOf(nc).request(subject, data, { timeout: opts.timeout, headers: h });
  let ack: { stream?: unknown; seq?: unknown; duplicate?: unknown; error?: { code?: number; err_code?: number; description?: string } };
  try {
    ack = JSON.parse(msg.string()) as typeof ack;
  } catch {
    throw new Error(`JetStream: the PubAck for '${subject}' is not JSON`);
  }
  if (ack.error) throw new Error(`JetStream: ${ack.error.description ?? 'publish refused'} (${ack.error.err_code ?? ack.error.code ?? 'no code'})`);
  if (typeof ack.stream !== 'string' || ack.stream === '' || typeof ack.seq !== 'number') throw new Error(`JetStream: invalid ack for '${subject}'`);
  return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate === true };
}

/**
 * A request no instance answered, as UNAVAILABLE with what the caller can know of its outcome (`details.outcome`):
 * `not_taken` when NATS said no one serves the subject (nothing was done: retry when an instance is up), `unknown`
 * when the request went out and no answer came (a timeout, a connection lost meanwhile): it may have taken effect, so
 * a mutation is retried with the same Idempotency-Key, which answers the first one's result if it did.
 */
function unavailable(subject: string, reason: string): DomainError {
  if (reason.startsWith('no responders')) {
    return new DomainError('UNAVAILABLE', `${subject} is unavailable: no instance serves it now, and nothing was done`, { outcome: 'not_taken' });
  }
  return new DomainError('UNAVAILABLE', `${subject} did not answer (${reason}): whether it took effect is unknown`, { outcome: 'unknown' });
}

/** Request/reply over NATS with the plain-JSON envelope; errors come back as DomainError with the service's code. */
export class RpcClient {
  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix = '',
    private readonly defaultTimeoutMs = 5_000,
  ) {}

  async call<C extends RpcContract>(contract: C, payload: RequestOf<C>, ctx: CallContext = {}): Promise<RpcResult<ReplyOf<C>>> {
    return this.request(contract.subject, payload, ctx) as Promise<RpcResult<ReplyOf<C>>>;
  }

  async request(subject: string, payload: unknown, ctx: CallContext = {}): Promise<RpcResult<unknown>> {
    const h = natsHeaders();
    if (ctx.token) h.set(HEADERS.authorization, `Bearer ${ctx.token}`);
    if (ctx.idempotencyKey !== undefined) h.set(HEADERS.idempotencyKey, ctx.idempotencyKey);
    if (ctx.requestId) h.set(HEADERS.requestId, ctx.requestId);
    let msg;
    try {
      msg = await muxOf(this.nc).request(`${this.prefix}${subject}`, JSON.stringify(payload ?? {}), {
        timeout: ctx.timeoutMs ?? this.defaultTimeoutMs,
        headers: h,
      });
    } catch (err) {
      // nats.js refuses a message over the server's max_payload before it goes out (a body within the HTTP limit can
      // grow once forwarded: `1e9` is `1000000000`): nothing was sent, and the same request can never pass
      if (err instanceof Error && err.name === 'InvalidArgumentError' && err.message.includes('max_payload')) throw new PayloadTooLargeException();
      throw unavailable(subject, err instanceof Error ? err.message : String(err));
    }
    let body: unknown;
    try {
      body = msg.json();
    } catch {
      throw new DomainError('INTERNAL', `${subject} sent a malformed reply`);
    }
    // The success branch of EnvelopeSchema is `{ok: true, data: unknown}`: checked by hand, without a schema pass
    // over every reply (issue 19). Anything else is parsed by the schema, which a malformed error body fails.
    const ok = typeof body === 'object' && body !== null && (body as { ok?: unknown }).ok === true && 'data' in body;
    if (ok) return { data: (body as { data: unknown }).data, replayed: msg.headers?.get(HEADERS.replayed) === 'true' };
    const parsed = EnvelopeSchema.safeParse(body);
    if (!parsed.success) throw new DomainError('INTERNAL', `${subject} sent a malformed reply`);
    if (!parsed.data.ok) throw new DomainError(parsed.data.error.code, parsed.data.error.message, parsed.data.error.details, parsed.data.error.errorId);
    return { data: parsed.data.data, replayed: msg.headers?.get(HEADERS.replayed) === 'true' };
  }
}
