import { AsyncLocalStorage } from 'node:async_hooks';
import type { Principal } from '@agentplane/domain';

/** The request being served: who calls, with which raw bearer token (to forward to other services), under which id. */
export interface RequestContext {
  principal: Principal;
  /** The caller's raw bearer token; absent for in-process (system) work. */
  token?: string;
  requestId?: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** The context of the HTTP request or NATS message this code runs for, if any (set for every authenticated handler). */
export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}

/** Runs `fn` (and everything it awaits) as part of `ctx`. */
export function runWithRequestContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}
