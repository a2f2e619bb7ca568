import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
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
      msg = await this.nc.request(`${this.prefix}${subject}`, JSON.stringify(payload ?? {}), {
        timeout: ctx.timeoutMs ?? this.defaultTimeoutMs,
        headers: h,
      });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new DomainError('UNAVAILABLE', `${subject} is unavailable: ${reason}`);
    }
    let parsed;
    try {
      parsed = EnvelopeSchema.parse(msg.json());
    } catch {
      throw new DomainError('INTERNAL', `${subject} sent a malformed reply`);
    }
    if (!parsed.ok) throw new DomainError(parsed.error.code, parsed.error.message, parsed.error.details, parsed.error.errorId);
    return { data: parsed.data, replayed: msg.headers?.get(HEADERS.replayed) === 'true' };
  }
}
