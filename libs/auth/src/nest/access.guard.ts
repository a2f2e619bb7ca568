import { DomainError, isDomainError, wellFormedRequestId, type Principal } from '@agentplane/domain';
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { assertAccess, bearerToken, isPublic } from '../access.js';
import { fillRequestScope } from '../request-context.js';
import type { TokenVerifier } from '../verifier.js';
import { accessRulesOf } from './access-rules.decorator.js';
import { setCallerToken, setPrincipal } from './principal-context.js';
import { TOKEN_VERIFIER } from './tokens.js';

interface HttpRequest {
  id?: unknown;
  headers?: Record<string, string | string[] | undefined>;
  /** Fastify's request: the Node message, whose `rawHeaders` keep every line as it came. */
  raw?: { rawHeaders?: string[] };
}

const GIVEN_TWICE = 'the Authorization header is given more than once';

/**
 * The Authorization header of an HTTP request. Node keeps the first of two such lines and drops the other, so a proxy
 * that reads the last would authenticate another caller than we do; two lines are refused instead, as over NATS.
 */
function httpAuthorization(req: HttpRequest): string | string[] | undefined {
  const raw = req.raw?.rawHeaders;
  if (raw) {
    let n = 0;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i];
      if (name?.length === 13 && name.toLowerCase() === 'authorization') n++;
    }
    if (n > 1) throw new DomainError('UNAUTHENTICATED', GIVEN_TWICE);
  }
  return req.headers?.['authorization'];
}

/**
 * The global guard of every HTTP route and NATS handler: applies the handler's declared access rule, and names the
 * caller in the request scope the transport opened (`currentRequestContext()`: principal, raw token, request id).
 * Errors are DomainErrors (UNAUTHENTICATED / FORBIDDEN); the transport's exception filter maps them.
 */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(@Inject(TOKEN_VERIFIER) private readonly verifier: TokenVerifier) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const rules = accessRulesOf(context.getHandler(), context.getClass());
    // The auditor refuses to start such an app; this is the fail-closed backstop.
    if (!rules) throw new DomainError('FORBIDDEN', 'this handler declares no access rule');
    if (isPublic(rules)) return true;
    const token = this.bearer(context);
    const principal = await this.authenticate(context, token);
    setPrincipal(context, principal);
    setCallerToken(context, token);
    fillRequestScope({ principal, token, requestId: this.requestId(context) });
    assertAccess(principal, rules);
    return true;
  }

  private requestId(context: ExecutionContext): string | undefined {
    if (context.getType() === 'http') {
      const id = context.switchToHttp().getRequest<HttpRequest>().id;
      return id === undefined ? undefined : String(id);
    }
    // as the log line takes it: a malformed one (any length, any text) is not carried into events and calls
    return wellFormedRequestId(readHeader(context.switchToRpc().getContext(), 'x-request-id'));
  }

  /**
   * The bearer token of the one Authorization header, read once per call. Only the header: a token in a query string
   * or body ends up in access logs. Two such headers are refused on either transport.
   */
  private bearer(context: ExecutionContext): string {
    let header: unknown;
    if (context.getType() === 'http') header = httpAuthorization(context.switchToHttp().getRequest<HttpRequest>());
    else if (context.getType() === 'rpc') {
      const values = headerValues(context.switchToRpc().getContext(), 'authorization');
      if (values.length > 1) throw new DomainError('UNAUTHENTICATED', GIVEN_TWICE);
      header = values[0];
    } else throw new DomainError('UNAUTHENTICATED', `unsupported transport ${context.getType()}`);
    const token = bearerToken(header);
    if (!token) throw new DomainError('UNAUTHENTICATED', 'missing bearer token');
    return token;
  }

  /**
   * The token, verified. (Passport used to stand between the guard and the verifier; it added a strategy lookup and
   * callbacks per request and nothing the verifier does not: issue 19.)
   */
  private async authenticate(context: ExecutionContext, token: string): Promise<Principal> {
    switch (context.getType()) {
      case 'http':
        try {
          return await this.verifier.verify(token);
        } catch (err) {
          throw isDomainError(err) ? err : new DomainError('UNAUTHENTICATED', 'invalid token');
        }
      default:
        return this.verifier.verify(token);
    }
  }
}

interface HeaderBag {
  get?(name: string): unknown;
  values?(name: string): unknown;
  keys?(): Iterable<string>;
}

/**
 * Every value of a header of an RPC message (NatsContext#getHeaders(): nats MsgHdrs), its name matched
 * case-insensitively as HTTP matches it (`Idempotency-Key` and `idempotency-key` are one header), empty ones left out.
 */
export function headerValues(rpcContext: unknown, name: string): string[] {
  const getHeaders = (rpcContext as { getHeaders?: () => unknown } | null)?.getHeaders;
  if (typeof getHeaders !== 'function') return [];
  const headers = getHeaders.call(rpcContext) as HeaderBag | Record<string, unknown> | null | undefined;
  if (!headers || typeof headers !== 'object') return [];
  const bag = headers as HeaderBag;
  const wanted = name.toLowerCase();
  const out: string[] = [];
  const take = (v: unknown) => {
    if (typeof v === 'string' && v.length > 0) out.push(v);
  };
  if (typeof bag.get === 'function') {
    // nats MsgHdrs: `values` holds each line of a name given more than once; `get` only the first
    const keys = typeof bag.keys === 'function' ? [...bag.keys()] : [name];
    for (const k of keys) {
      if (k.toLowerCase() !== wanted) continue;
      const vs = typeof bag.values === 'function' ? bag.values(k) : [bag.get(k)];
      if (Array.isArray(vs)) vs.forEach(take);
    }
    return out;
  }
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === wanted) (Array.isArray(v) ? v : [v]).forEach(take);
  return out;
}

/**
 * A header of an RPC message, matched case-insensitively. Given more than once, its values joined with ", ", as HTTP
 * joins the lines of one field (RFC 9110 §5.3) and Node does for the gateway: `idempotency-key: a` twice is `a, a`
 * over both doors, which no key matches, so neither takes one of the two silently.
 */
export function readHeader(rpcContext: unknown, name: string): string | undefined {
  const values = headerValues(rpcContext, name);
  return values.length === 0 ? undefined : values.join(', ');
}
