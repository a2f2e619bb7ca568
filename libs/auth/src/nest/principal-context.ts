import { DomainError, type Principal } from '@agentplane/domain';
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';

// An RPC handler has no request object to hang the principal on, so it is kept beside the
// per-message transport context (e.g. NatsContext) and dies with it.
const rpcPrincipals = new WeakMap<object, Principal>();
// The verified raw token, beside the principal (HTTP: keyed by the request object), to forward to other services.
const callerTokens = new WeakMap<object, string>();

interface RequestWithUser {
  user?: unknown;
}

function rpcContextOf(context: ExecutionContext): object | undefined {
  const ctx: unknown = context.switchToRpc().getContext();
  return typeof ctx === 'object' && ctx !== null ? ctx : undefined;
}

/** Records the authenticated principal of this call (HTTP: `request.user`; RPC: keyed by the transport context). */
export function setPrincipal(context: ExecutionContext, principal: Principal): void {
  if (context.getType() === 'http') {
    context.switchToHttp().getRequest<RequestWithUser>().user = principal;
    return;
  }
  const ctx = rpcContextOf(context);
  if (!ctx) throw new DomainError('UNAUTHENTICATED', 'no transport context to carry the principal');
  rpcPrincipals.set(ctx, principal);
}

/** The principal the AccessGuard authenticated for this call, if any. */
export function getPrincipal(context: ExecutionContext): Principal | undefined {
  if (context.getType() === 'http') return context.switchToHttp().getRequest<RequestWithUser>().user as Principal | undefined;
  const ctx = rpcContextOf(context);
  return ctx ? rpcPrincipals.get(ctx) : undefined;
}

function carrierOf(context: ExecutionContext): object | undefined {
  if (context.getType() === 'http') return context.switchToHttp().getRequest<object>() ?? undefined;
  return rpcContextOf(context);
}

/** Records the raw bearer token the principal was verified from. */
export function setCallerToken(context: ExecutionContext, token: string): void {
  const carrier = carrierOf(context);
  if (carrier) callerTokens.set(carrier, token);
}

/** The raw bearer token of this call, if the AccessGuard verified one. */
export function getCallerToken(context: ExecutionContext): string | undefined {
  const carrier = carrierOf(context);
  return carrier ? callerTokens.get(carrier) : undefined;
}

/** The caller's principal, in HTTP and NATS handlers alike. Throws UNAUTHENTICATED on a `@Public()` handler. */
export const CurrentPrincipal = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  const principal = getPrincipal(context);
  if (!principal) throw new DomainError('UNAUTHENTICATED', 'no authenticated principal');
  return principal;
});
