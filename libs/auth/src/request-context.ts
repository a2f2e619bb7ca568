import { AsyncLocalStorage } from 'node:async_hooks';
import { decodeJwt } from 'jose';
import type { Principal } from '@agentplane/domain';
import { CLOCK_TOLERANCE_S } from './verifier.js';

/** The request being served: who calls, with which raw bearer token (to forward to other services), under which id. */
export interface RequestContext {
  principal: Principal;
  /** The caller's raw bearer token; absent for in-process (system) work. */
  token?: string;
  requestId?: string;
}

/**
 * A request's scope: opened by the transport before the handler runs, filled in by the AccessGuard; `slots` keep
 * what a handler's own guard prepared for it (e.g. `@Idempotent()`'s request).
 */
type Scope = Partial<RequestContext> & { slots?: Map<symbol, unknown> };

const storage = new AsyncLocalStorage<Scope>();

/**
 * The context of the NATS request this code runs for, if any: set for every authenticated handler, from its guard
 * on (pipes, use cases, outgoing calls). HTTP handlers (the gateway's) have none: the gateway forwards the caller's
 * token itself.
 */
export function currentRequestContext(): RequestContext | undefined {
  const scope = storage.getStore();
  return scope?.principal ? (scope as RequestContext) : undefined;
}

/** Runs `fn` (and everything it awaits) as part of `ctx`. */
export function runWithRequestContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run({ ...ctx }, fn);
}

/**
 * Runs a transport's handling of one request (`fn`, and everything it awaits) in a scope of its own, empty until
 * `fillRequestScope` names the caller. The transport opens it around Nest's handler, so no interceptor (and no rxjs
 * pipeline per request) is needed to carry the context (issue 19).
 */
export function openRequestScope<T>(fn: () => T): T {
  return storage.run({}, fn);
}

/** Names the caller of the request scope being served (the AccessGuard, once it verified the token); false without a scope. */
export function fillRequestScope(ctx: RequestContext): boolean {
  const scope = storage.getStore();
  if (!scope) return false;
  scope.principal = ctx.principal;
  scope.token = ctx.token;
  scope.requestId = ctx.requestId;
  return true;
}

/** Keeps `value` under `slot` for the rest of the request being served (a guard preparing its handler); false without a scope. */
export function setRequestSlot(slot: symbol, value: unknown): boolean {
  const scope = storage.getStore();
  if (!scope) return false;
  (scope.slots ??= new Map()).set(slot, value);
  return true;
}

/** What `setRequestSlot` kept under `slot` in this request's scope, if anything. */
export function requestSlot<T>(slot: symbol): T | undefined {
  return storage.getStore()?.slots?.get(slot) as T | undefined;
}

/**
 * Until when the bearer token of the request being served is accepted (epoch ms: its `exp` plus the verifier's clock
 * tolerance); undefined without a scope, a token or an `exp`. The guard verified the token already: this only reads
 * the claim again, for work that outlives the moment it was checked (a long-poll must not wait past it).
 */
export function requestTokenValidUntil(): number | undefined {
  const token = storage.getStore()?.token;
  if (!token) return undefined;
  try {
    const exp = decodeJwt(token).exp;
    return typeof exp === 'number' ? (exp + CLOCK_TOLERANCE_S) * 1000 : undefined;
  } catch {
    return undefined;
  }
}
