import { Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import type { z } from 'zod';
import { assertIdempotencyKey, validationError } from '@agentplane/domain';
import { HEADERS, type ReplyOf, type RequestOf, type RpcContract } from '@agentplane/contracts';
import { bearerToken } from '@agentplane/auth';
import { RpcClient, zodIssues } from '@agentplane/messaging';

export interface HttpRequestLike {
  id: string | number;
  method?: string;
  /** The raw request, where pino-http put the request id it logs with. */
  raw?: { id?: unknown };
  headers: Record<string, string | string[] | undefined>;
  /** The parsed query string (Fastify's), when the route was reached over HTTP. */
  query?: unknown;
  /** The parsed body (Fastify's), when the request had one. */
  body?: unknown;
}

export interface HttpReplyLike {
  status(code: number): unknown;
  header(name: string, value: string): unknown;
}

function single(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}

/**
 * The fields of a JSON object body, to which a route adds its path parameters. No body at all is `{}`; any other body
 * that is not an object (an array, a string, `null`) is VALIDATION, never read as if it were empty.
 */
export function fields(body: unknown): Record<string, unknown> {
  if (body === undefined) return {};
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) return body as Record<string, unknown>;
  // zod's own words, as a service says them of the same payload over NATS
  throw validationError([{ path: '', message: `Invalid input: expected object, received ${body === null ? 'null' : Array.isArray(body) ? 'array' : typeof body}` }]);
}

/**
 * The query string's parameters given more than once (`?limit=1&limit=2`, `?status=a&status=b`): no route takes a list
 * there, and the contract would call the pair "expected an integer" or an invalid option, not say what is wrong.
 */
export function repeatedQueryIssues(query: unknown): ReadonlyArray<{ path: string; message: string }> {
  if (typeof query !== 'object' || query === null) return NONE;
  let out: Array<{ path: string; message: string }> | undefined; // none made for the usual query
  for (const k in query) if (Array.isArray((query as Record<string, unknown>)[k])) (out ??= []).push({ path: `query.${k}`, message: 'given more than once' });
  return out ?? NONE;
}

const NONE: ReadonlyArray<{ path: string; message: string }> = Object.freeze([]);

/**
 * The query string's parameters the route did not take as they came: all of them on a route that reads a body or
 * nothing, and one a path parameter overrides (`GET /v1/tasks/{id}?id=…`). A route that reads its query passes each
 * one on, where the contract refuses one it does not know; so a misspelt parameter (`?waitMS=`) is never ignored.
 */
export function strayQueryIssues(query: unknown, input: unknown): Array<{ path: string; message: string }> {
  if (typeof query !== 'object' || query === null) return [];
  return notTakenAsGiven(query, input).map(({ key }) => ({ path: `query.${key}`, message: 'not a parameter of this route' }));
}

/** The keys of `given` that `input` (what the route passes on) lacks or holds another value for. */
function notTakenAsGiven(given: object, input: unknown): Array<{ key: string; overridden: boolean }> {
  const taken = typeof input === 'object' && input !== null ? (input as Record<string, unknown>) : {};
  return Object.keys(given)
    .filter((k) => !Object.hasOwn(taken, k) || taken[k] !== (given as Record<string, unknown>)[k])
    .map((k) => ({ key: k, overridden: Object.hasOwn(taken, k) }));
}

/**
 * The body's fields the route did not take as they came: any on a route that reads no body
 * (`POST /v1/tasks/{id}/cancel` with `{"reason": …}`), and one its path gives (`POST /v1/runs/{id}/outputs` with `{"runId": …}`), which the path
 * would override unseen. A route that reads its body passes each field on, where the contract refuses one it does not
 * know. A body that is not an object is `fields`' to refuse, on a route that reads one.
 */
export function strayBodyIssues(body: unknown, input: unknown): Array<{ path: string; message: string }> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return [];
  return notTakenAsGiven(body, input).map(({ key, overridden }) => ({ path: key, message: overridden ? 'unknown field: the path gives it' : 'unknown field' }));
}

/**
 * One answer for a request the forwarder refuses: the contract's issues, the parameters the route did not take, and
 * those given twice. A parameter given twice is named as that, not also by what the contract makes of the pair; one
 * the route does not take at all is named as that alone.
 */
function queryAndContractIssues(
  error: z.ZodError | undefined,
  stray: Array<{ path: string; message: string }>,
  repeated: ReadonlyArray<{ path: string; message: string }>,
): Array<{ path: string; message: string }> {
  const judged = error ? zodIssues(error) : [];
  const unknown = new Set(judged.filter((i) => i.message === 'unknown field').map((i) => `query.${i.path}`));
  const twice = repeated.filter((r) => !unknown.has(r.path) && !stray.some((i) => i.path === r.path));
  const names = new Set(twice.map((i) => i.path.slice('query.'.length)));
  return [...judged.filter((i) => !names.has(i.path.split('.')[0] ?? '')), ...stray, ...twice];
}

/**
 * An issue of a contract field the route takes from its path under another name (`POST /v1/runs/{id}/outputs` gives
 * `runId`) is named as the path names it: the caller's request holds no `runId`. `pathFields`: path name → field.
 */
function namedAsInPath(issue: { path: string; message: string }, pathFields: Readonly<Record<string, string>> | undefined): { path: string; message: string } {
  if (!pathFields) return issue;
  const [head, ...rest] = issue.path.split('.');
  const param = Object.keys(pathFields).find((p) => pathFields[p] === head);
  return param === undefined ? issue : { ...issue, path: [param, ...rest].join('.') };
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

export interface ForwardOptions {
  /** The call's timeout; a read with `waitMs` gets its wait plus the usual answer time (`waitBudgetMs`) unless given. */
  timeoutMs?: number;
  /** The contract's name of each path parameter named otherwise in the route (its issues are named as in the path). */
  pathFields?: Readonly<Record<string, string>>;
  /**
   * What the route took from the query, where the input is not the query as given (a stream's later pages ask after
   * the last event sent): any other query parameter is refused. Default: the input itself.
   */
  queryTaken?: Readonly<Record<string, unknown>>;
}

/**
 * REST → NATS: validates the input with the contract's schema (400 with the field path before anything is sent),
 * forwards the caller's token, idempotency key and request id, and sets the success status and replay header.
 */
@Injectable()
export class Forwarder implements BeforeApplicationShutdown {
  private stopping = false;
  private stop!: () => void;
  private readonly stopped = new Promise<void>((r) => (this.stop = r));

  constructor(private readonly rpc: RpcClient) {}

  /**
   * The gateway stops: a read that waits (`waitMs`: a task's `GET`, a page of its history) is asked again without a
   * wait and answered with that, so it holds the stop up no longer than any request (a long-poll may answer before its
   * wait is over; its caller asks again, of another gateway). A claim still waits for its answer: given up here, a
   * task it claimed would reach no worker and wait out its lease.
   */
  beforeApplicationShutdown(): void {
    this.stopping = true;
    this.stop();
  }

  async forward<C extends RpcContract>(
    contract: C,
    input: unknown,
    req: HttpRequestLike,
    reply: HttpReplyLike,
    status = 200,
    opts: ForwardOptions = {},
  ): Promise<ReplyOf<C>> {
    const parsed = contract.request.safeParse(input);
    const stray = strayQueryIssues(req.query, opts.queryTaken ?? input);
    const repeated = repeatedQueryIssues(req.query);
    const strayBody = strayBodyIssues(req.body, input);
    if (!parsed.success || stray.length > 0 || repeated.length > 0 || strayBody.length > 0) {
      const issues = queryAndContractIssues(parsed.error, stray, repeated).map((i) => namedAsInPath(i, opts.pathFields));
      throw validationError([...issues, ...strayBody.filter((b) => !issues.some((i) => i.path === b.path))]);
    }
    // the scheme is case-insensitive (RFC 9110 §11.1): the one reading the gateway's guard and every service make
    const token = bearerToken(single(req.headers.authorization));
    const idempotencyKey = single(req.headers[HEADERS.idempotencyKey]);
    if (idempotencyKey !== undefined) assertIdempotencyKey(idempotencyKey);
    const call = (data: RequestOf<C>, timeoutMs: number | undefined) =>
      this.rpc.call(contract, data, {
        token,
        idempotencyKey: contract.mutating ? idempotencyKey : undefined,
        requestId: requestIdOf(req),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      });
    const data = parsed.data as RequestOf<C>;
    const waits = !contract.mutating && typeof (data as { waitMs?: unknown }).waitMs === 'number' && (data as { waitMs: number }).waitMs > 0;
    let result: Awaited<ReturnType<typeof call>>;
    if (!waits) result = await call(data, opts.timeoutMs);
    else {
      const now = () => call({ ...(data as object), waitMs: 0 } as RequestOf<C>, undefined);
      if (this.stopping) result = await now();
      else {
        // a read that waits is given its wait, whichever route forwards it
        const budget = opts.timeoutMs ?? waitBudgetMs(data as Record<string, unknown>);
        const first = await Promise.race([call(data, budget).then((r) => ({ r })), this.stopped.then(() => undefined)]);
        result = first ? first.r : await now();
      }
    }
    if (result.replayed) reply.header('Idempotent-Replayed', 'true');
    reply.status(status);
    return result.data;
  }
}
