import { NatsContext, ServerNats, type CustomTransportStrategy, type MessageHandler } from '@nestjs/microservices';
import { isObservable, lastValueFrom } from 'rxjs';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { openRequestScope } from '@agentplane/auth';
import type { RpcServerMetrics } from '@agentplane/observability';
import { EnvelopeSerializer, JsonRequestDeserializer } from './serializer.js';
import { normaliseError } from './errors.js';
import { DomainError } from '@agentplane/domain';
import { assertPrefix, coalesceWrites, connectWithRetry, natsConnectionOptions, watchViolations, type NatsOptions } from './nats.js';

/** How long a stopping server waits for the requests in hand to be answered before it closes its connection. */
export const DRAIN_TIMEOUT_MS = 10_000;

/** Room left in a message for its headers and protocol line when a reply's size is checked against max_payload. */
const REPLY_HEADROOM_BYTES = 4_096;

/**
 * A reply larger than the server's max_payload cannot be sent: the caller would wait out its timeout and read
 * UNAVAILABLE, a lie about the service. It becomes INTERNAL instead, with an errorId in a log line that gives the
 * size. Every list bounds its pages to fit (REPLY_BUDGET_BYTES, contracts); this is for what nothing bounded.
 */
export function withinMaxPayload(
  reply: { data: string; headers?: Msg['headers'] },
  maxPayload: number | undefined,
  logError: (obj: object, msg: string) => void,
  subject: string,
): { data: string; headers?: Msg['headers'] } {
  // a UTF-16 unit is at most 3 bytes of UTF-8: a reply under a third of the limit surely fits
  if (!maxPayload || reply.data.length * 3 <= maxPayload - REPLY_HEADROOM_BYTES) return reply;
  const bytes = Buffer.byteLength(reply.data);
  if (bytes <= maxPayload - REPLY_HEADROOM_BYTES) return reply;
  const { body } = normaliseError(new Error('reply too large'));
  logError({ errorId: body.errorId, subject, bytes, maxPayload }, `reply of ${bytes} bytes exceeds max_payload ${maxPayload}, errorId ${body.errorId}`);
  return { data: JSON.stringify({ ok: false, error: body }) };
}

/**
 * Nest's NATS server speaking plain JSON (our serializer pair), subscribing every pattern in the service's queue
 * group under an optional subject prefix, and draining on shutdown so in-flight requests are answered.
 *
 * Requests take a direct path to their handler (issue 19): the subscription already knows its handler, so there is
 * no per-message route lookup (Nest's JSON.parse of the pattern), no Observable wrapping of the result, no tick of
 * scheduling before the reply. The handler itself is Nest's: guards, interceptors, pipes and the exception filter
 * run as before, and its result or the filter's error body is serialised into the one reply. Events (no reply
 * subject) still go through Nest's own path.
 *
 * It is also where what every request needs is set up without a global interceptor (whose rxjs chain Nest builds for
 * every handler once there is one): each message is handled in a request scope of its own, which the AccessGuard
 * fills (`currentRequestContext()`), and each request is counted and timed in `rpc_server_*` (RpcServerMetrics).
 */
export class AgentplaneNatsServer extends ServerNats implements CustomTransportStrategy {
  private readonly subs: Subscription[] = [];
  /** Requests being answered (a shutdown sends their replies before the connection closes), and who waits for none. */
  private inFlight = 0;
  private idle?: () => void;
  /** The connection requests arrive on (read after a stop too, where Nest's unwrap() throws). */
  private client?: NatsConnection;
  private readonly envelope = new EnvelopeSerializer();
  private readonly json = new JsonRequestDeserializer();

  constructor(
    private readonly nats: NatsOptions & { queue: string },
    private readonly metrics?: RpcServerMetrics,
  ) {
    // the connection is made by createNatsClient below, from `nats`: Nest's server is handed only what it reads
    super({
      queue: nats.queue,
      serializer: new EnvelopeSerializer(),
      deserializer: new JsonRequestDeserializer(),
    } as ConstructorParameters<typeof ServerNats>[0]);
    assertPrefix(nats.prefix);
  }

  override async createNatsClient(): Promise<NatsConnection> {
    // the same connection Nest's ServerNats makes, waiting for a server that does not answer yet (connectWithRetry)
    const nc = await connectWithRetry(natsConnectionOptions(this.nats));
    coalesceWrites(nc);
    return nc;
  }

  override bindEvents(client: NatsConnection): void {
    this.client = client;
    watchViolations(client, this.nats.name);
    for (const [channel, handler] of this.messageHandlers) {
      const queue = (handler.extras?.queue as string | undefined) ?? this.nats.queue;
      const nest = this.getMessageHandler(channel).bind(this) as (err: Error | null, msg: Msg) => void;
      const viaNest = (err: Error | null, msg: Msg) => openRequestScope(() => nest(err, msg));
      const callback = handler.isEventHandler
        ? viaNest
        : (err: Error | null, msg: Msg) => {
            if (err || !msg.reply) return viaNest(err, msg);
            void openRequestScope(() => this.answer(channel, handler, msg));
          };
      this.subs.push(client.subscribe(`${this.nats.prefix}${channel}`, { queue, callback }));
    }
  }

  /** One request → the handler → one reply: `{ok: true, data}`, or the exception filter's error body. */
  async answer(channel: string, handler: MessageHandler, msg: Msg): Promise<void> {
    this.inFlight++;
    const done = this.metrics?.start(channel);
    let reply: { data: string; headers?: Msg['headers'] };
    try {
      const request = this.json.deserialize(msg, { channel, replyTo: msg.reply });
      let result: unknown = await handler(request.data, new NatsContext([msg.subject, headersOf(msg)]));
      if (isObservable(result)) result = await lastValueFrom(result, { defaultValue: undefined });
      reply = this.envelope.serialize({ response: result });
      done?.(true);
    } catch (err) {
      // The handler's errors come as the exception filter's bodies; one thrown before it (the headers) is made one
      // here, an unexpected one with an errorId that its log line carries too
      let body = err;
      if (err instanceof Error) {
        const n = normaliseError(err);
        if (n.unexpected !== undefined) this.logger.error({ errorId: n.body.errorId, err: n.unexpected }, `unexpected error, errorId ${n.body.errorId}`);
        body = n.body;
      }
      reply = this.envelope.serialize({ err: body });
      done?.(false);
    }
    try {
      reply = withinMaxPayload(reply, this.client?.info?.max_payload, (obj, msg) => this.logger.error(obj, msg), channel);
      msg.respond(reply.data, { headers: reply.headers });
    } catch (err) {
      // The connection is closing or closed: the caller times out, as it would with Nest's path.
      this.logger.error(err);
    } finally {
      if (--this.inFlight === 0) this.idle?.();
    }
  }

  /**
   * Stops taking requests (each subscription drained: what it had received is still handled, and the queue group's
   * other members get the rest), then waits for the requests in hand to be answered, at most `drainTimeoutMs`, before
   * the connection drains and closes. Closing the connection first would drop every reply still being computed: the
   * callers would wait out their own timeouts and read UNAVAILABLE. A service's long-polls answer at once when it
   * stops (the tasks service wakes them before this runs), so the wait is the length of a request, not of a wait.
   */
  override async close(): Promise<void> {
    try {
      const nc = this.unwrap<NatsConnection>();
      if (!nc.isClosed()) {
        await Promise.all(this.subs.map((sub) => sub.drain().catch(() => undefined)));
        await this.answered(this.nats.drainTimeoutMs ?? DRAIN_TIMEOUT_MS);
        await nc.drain();
      }
    } catch {
      // not connected: nothing to drain
    }
    await super.close();
  }

  /** Resolves once every request in hand is answered, or after `ms`. */
  private async answered(ms: number): Promise<void> {
    if (this.inFlight === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.idle = resolve;
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
    this.idle = undefined;
  }
}

/**
 * A request's headers, which nats.js decodes when first read: a block it cannot decode (a value with a bare line feed,
 * which another language's client may send and nats-server passes on) is the caller's VALIDATION, not an INTERNAL.
 */
function headersOf(msg: Msg): Msg['headers'] {
  try {
    return msg.headers;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new DomainError('VALIDATION', `the request's headers cannot be read: ${why}`, { issues: [{ path: 'header', message: 'not a valid NATS header block' }] });
  }
}
