import { currentRequestContext } from '@agentplane/auth';
import { authzContract, resourceTypeOf, type Action, type ReplyOf, type RequestOf, type RpcContract } from '@agentplane/contracts';
import { DomainError, isAdmin, subjectOf, type Principal } from '@agentplane/domain';
import type { CallContext, RpcResult } from '@agentplane/messaging';
import type { DecisionCache } from './decision-cache.js';

/** The one method of RpcClient this client uses (a fake in unit tests). */
export interface RpcCaller {
  call<C extends RpcContract>(contract: C, payload: RequestOf<C>, ctx?: CallContext): Promise<RpcResult<ReplyOf<C>>>;
}

/** The caller's credentials; by default those of the request being served (`currentRequestContext()`). */
export interface CallerCredentials {
  token?: string;
  requestId?: string;
}

export interface LookupPage {
  /** Resource ids (without the `<type>:` prefix), ascending. */
  ids: string[];
  nextCursor: string | null;
}

/**
 * What a service asks authz-proxy, over NATS, with the caller's own token (authz verifies it; nothing is vouched for).
 * A service never imports authz-proxy; it uses this.
 */
export class AuthzClient {
  /** `decisions`: allowed decisions kept until authz-proxy announces a change (DESIGN §3, the decision cache). */
  constructor(
    private readonly rpc: RpcCaller,
    private readonly decisions?: DecisionCache,
  ) {}

  /**
   * Passes when `principal` may do `action` on `resource`. Denied: a `read` is NOT_FOUND (a resource you may not
   * see does not exist for you); a mutation on a resource the caller can read is FORBIDDEN, on one it cannot read
   * NOT_FOUND — so the answer never reveals that a resource exists to someone who cannot read it.
   * The in-process system principal (background work) is not checked.
   */
  async require(principal: Principal, action: Action, resource: string, creds?: CallerCredentials): Promise<void> {
    if (principal.kind === 'system') return;
    const ctx = this.callContext(principal, creds);
    if ((await this.decide(principal, action, resource, ctx, creds)).allowed) return;
    const type = resourceTypeOf(resource);
    if (action !== 'read' && (await this.decide(principal, 'read', resource, ctx, creds)).allowed) {
      throw new DomainError('FORBIDDEN', `${action} on this ${type} is not allowed`);
    }
    throw new DomainError('NOT_FOUND', `${type} not found`);
  }

  /** The decision for the caller (`{allowed, reason}`), without turning a denial into an error. */
  async check(principal: Principal, action: Action, resource: string, creds?: CallerCredentials): Promise<ReplyOf<typeof authzContract.check>> {
    return this.decide(principal, action, resource, this.callContext(principal, creds), creds);
  }

  /** One page of the ids of `type` the caller may `action` (for list endpoints); page on with `nextCursor`. */
  async lookup(principal: Principal, action: Action, type: string, page: { limit?: number; cursor?: string } = {}, creds?: CallerCredentials): Promise<LookupPage> {
    const { data } = await this.rpc.call(
      authzContract.lookup,
      { action, type, limit: page.limit ?? 50, ...(page.cursor ? { cursor: page.cursor } : {}) },
      this.callContext(principal, creds),
    );
    return { ids: data.items.map((ref) => ref.slice(type.length + 1)), nextCursor: data.nextCursor };
  }

  /**
   * The decision, from the cache when it keeps one. Only decisions asked with the request's own token are kept (its
   * principal is the one checked, see callContext); one asked with explicit credentials could be another's answer.
   */
  private async decide(principal: Principal, action: Action, resource: string, ctx: CallContext, creds?: CallerCredentials): Promise<ReplyOf<typeof authzContract.check>> {
    const cache = creds?.token ? undefined : this.decisions;
    // Everything the decision depends on besides the tuples: the asker (tenant, subject, the admin role) and the question.
    const key = cache && `${principal.tenantId}\u001f${subjectOf(principal)}\u001f${isAdmin(principal) ? 'admin' : ''}\u001f${action}\u001f${resource}`;
    if (cache && key) {
      const reason = cache.get(key);
      if (reason !== undefined) return { allowed: true, reason };
    }
    const { data } = await this.rpc.call(authzContract.check, { action, resource }, ctx);
    if (cache && key && data.allowed && data.revision !== undefined) cache.put(key, principal.tenantId, data.revision, data.reason);
    return data;
  }

  /**
   * The token to forward. It must be the principal's own: authz answers for the token's principal, so checking one
   * principal with another's token would silently answer the wrong question.
   */
  private callContext(principal: Principal, creds?: CallerCredentials): CallContext {
    const request = currentRequestContext();
    const token = creds?.token ?? request?.token;
    if (!token) throw new DomainError('INTERNAL', 'no caller token to ask authz with (outside a request? pass creds)');
    if (!creds?.token && request && (request.principal.tenantId !== principal.tenantId || subjectOf(request.principal) !== subjectOf(principal))) {
      throw new DomainError('INTERNAL', 'the principal to check is not the caller of this request');
    }
    return { token, requestId: creds?.requestId ?? request?.requestId };
  }
}
