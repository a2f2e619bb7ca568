import { DomainError, isDomainError, type Principal } from '@agentplane/domain';
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
    const principal = await this.authenticate(context);
    setPrincipal(context, principal);
    const token = this.rawToken(context);
    if (token) setCallerToken(context, token);
    fillRequestScope({ principal, token, requestId: this.requestId(context) });
    assertAccess(principal, rules);
    return true;
  }

  private requestId(context: ExecutionContext): string | undefined {
    if (context.getType() === 'http') {
      const id = context.switchToHttp().getRequest<HttpRequest>().id;
      return id === undefined ? undefined : String(id);
    }
    return readHeader(context.switchToRpc().getContext(), 'x-request-id');
  }

  private authenticate(context: ExecutionContext): Promise<Principal> {
    switch (context.getType()) {
      case 'http':
        return this.authenticateHttp(context);
      case 'rpc':
        return this.authenticateRpc(context);
      default:
        return Promise.reject(new DomainError('UNAUTHENTICATED', `unsupported transport ${context.getType()}`));
    }
  }

  /** The bearer token this call was authenticated with. */
  private rawToken(context: ExecutionContext): string | undefined {
    if (context.getType() === 'http') return bearerToken(context.switchToHttp().getRequest<HttpRequest>().headers?.['authorization']);
    return bearerToken(readHeader(context.switchToRpc().getContext(), 'authorization'));
  }

  /**
   * The bearer token of the Authorization header, verified. Only the header: a token in a query string or body ends
   * up in access logs. (Passport used to stand between the guard and the verifier; it added a strategy lookup and
   * callbacks per request and nothing the verifier does not: issue 19.)
   */
  private async authenticateHttp(context: ExecutionContext): Promise<Principal> {
    const token = bearerToken(context.switchToHttp().getRequest<HttpRequest>().headers?.['authorization']);
    if (!token) throw new DomainError('UNAUTHENTICATED', 'missing bearer token');
    try {
      return await this.verifier.verify(token);
    } catch (err) {
      throw isDomainError(err) ? err : new DomainError('UNAUTHENTICATED', 'invalid token');
    }
  }

  private async authenticateRpc(context: ExecutionContext): Promise<Principal> {
    const token = bearerToken(readHeader(context.switchToRpc().getContext(), 'authorization'));
    if (!token) throw new DomainError('UNAUTHENTICATED', 'missing bearer token');
    return this.verifier.verify(token);
  }
}

interface HeaderBag {
  get?(name: string): unknown;
  keys?(): Iterable<string>;
}

/** A header of an RPC message (NatsContext#getHeaders(): nats MsgHdrs), matched case-insensitively. */
export function readHeader(rpcContext: unknown, name: string): string | undefined {
  const getHeaders = (rpcContext as { getHeaders?: () => unknown } | null)?.getHeaders;
  if (typeof getHeaders !== 'function') return undefined;
  const headers = getHeaders.call(rpcContext) as HeaderBag | Record<string, unknown> | null | undefined;
  if (!headers || typeof headers !== 'object') return undefined;
  const bag = headers as HeaderBag;
  if (typeof bag.get === 'function') {
    // nats MsgHdrs#get matches exactly and returns '' when absent
    const keys = typeof bag.keys === 'function' ? [...bag.keys()] : [name];
    const key = keys.find((k) => k.toLowerCase() === name.toLowerCase());
    const value = key === undefined ? undefined : bag.get(key);
    return typeof value === 'string' && value.length > 0 ? value : undefined;
  }
  const entry = Object.entries(headers).find(([k]) => k.toLowerCase() === name.toLowerCase());
  const value = entry?.[1];
  return typeof value === 'string' && value.length > 0 ? value : Array.isArray(value) && typeof value[0] === 'string' ? value[0] : undefined;
}
