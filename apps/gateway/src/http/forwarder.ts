import { Injectable } from '@nestjs/common';
import { DomainError, validationError } from '@agentplane/domain';
import { HEADERS, type ReplyOf, type RequestOf, type RpcContract } from '@agentplane/contracts';
import { RpcClient, fromZodError } from '@agentplane/messaging';

export interface HttpRequestLike {
  id: string | number;
  /** The raw request, where pino-http put the request id it logs with. */
  raw?: { id?: unknown };
  headers: Record<string, string | string[] | undefined>;
}

export interface HttpReplyLike {
  status(code: number): unknown;
  header(name: string, value: string): unknown;
}

function single(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}

const KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * The fields of a JSON object body, to which a route adds its path parameters. No body at all is `{}`; any other body
 * that is not an object (an array, a string, `null`) is VALIDATION, never read as if it were empty.
 */
export function fields(body: unknown): Record<string, unknown> {
  if (body === undefined) return {};
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) return body as Record<string, unknown>;
  throw validationError([{ path: '', message: `expected a JSON object, received ${body === null ? 'null' : Array.isArray(body) ? 'array' : typeof body}` }]);
}

/** The id a request is logged and forwarded under (the caller's `x-request-id` when well-formed), which its reply says. */
export function requestIdOf(req: HttpRequestLike): string {
  return String(req.raw?.id ?? req.id);
}

/** How long a call that may wait (`waitMs`) is given: its wait plus the usual answer time. */
export function waitBudgetMs(input: Record<string, unknown>): number {
  // not yet validated: only a number or a string is read (`Number` of a deeply nested array overflows the stack)
  const raw = input.waitMs;
  const wait = typeof raw === 'number' || typeof raw === 'string' ? Number(raw) : Number.NaN;
  return 5_000 + (Number.isFinite(wait) ? Math.min(Math.max(wait, 0), 30_000) : 0);
}

/**
 * REST → NATS: validates the input with the contract's schema (400 with the field path before anything is sent),
 * forwards the caller's token, idempotency key and request id, and sets the success status and replay header.
 */
@Injectable()
export class Forwarder {
  constructor(private readonly rpc: RpcClient) {}

  async forward<C extends RpcContract>(
    contract: C,
    input: unknown,
    req: HttpRequestLike,
    reply: HttpReplyLike,
    status = 200,
    opts: { timeoutMs?: number } = {},
  ): Promise<ReplyOf<C>> {
    const parsed = contract.request.safeParse(input);
    if (!parsed.success) throw fromZodError(parsed.error);
    const auth = single(req.headers.authorization);
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    const idempotencyKey = single(req.headers[HEADERS.idempotencyKey]);
    if (idempotencyKey !== undefined && !KEY.test(idempotencyKey)) {
      throw new DomainError('VALIDATION', 'Idempotency-Key must be 1-255 printable ASCII characters', {
        issues: [{ path: 'header.Idempotency-Key', message: 'invalid' }],
      });
    }
    const result = await this.rpc.call(contract, parsed.data as RequestOf<C>, {
      token,
      idempotencyKey: contract.mutating ? idempotencyKey : undefined,
      requestId: requestIdOf(req),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    });
    if (result.replayed) reply.header('Idempotent-Replayed', 'true');
    reply.status(status);
    return result.data;
  }
}
