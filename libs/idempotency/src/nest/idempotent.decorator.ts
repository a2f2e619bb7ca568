import { SetMetadata, UseGuards } from '@nestjs/common';
import { requestSlot } from '@agentplane/auth';
import { HEADERS } from '@agentplane/contracts';
import { RpcReply } from '@agentplane/messaging';
import type { IdempotencyMode } from '../core/idempotency.js';
import type { StoredResponse } from '../core/store.js';
import { IDEMPOTENT_CALL, IdempotencyGuard, type PreparedIdempotentCall } from './idempotency.guard.js';
import { IDEMPOTENT_METADATA } from './metadata.js';

export { IDEMPOTENT_METADATA };

export interface IdempotentOptions {
  /**
   * `claim` (default) suits any handler. `transaction` is for a use case whose whole effect is one `SqlPool`
   * transaction that calls `completeWithin` (it fails loudly otherwise); see IdempotencyMode.
   */
  mode?: IdempotencyMode;
}

function toStored(result: unknown): StoredResponse {
  return result instanceof RpcReply ? { data: result.data, headers: result.headers } : { data: result };
}

type Handler = (this: unknown, ...args: unknown[]) => unknown;

/** The handler, run under the key its IdempotencyGuard prepared; a replay answers the stored data with `idempotent-replayed: true`. */
function underKey(original: Handler): Handler {
  const wrapped = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
    const call = requestSlot<PreparedIdempotentCall>(IDEMPOTENT_CALL);
    // Without its guard the key would be silently ignored: refuse instead.
    if (!call) throw new Error('@Idempotent(): the handler ran without its IdempotencyGuard');
    const { replayed, response } = await call.idempotency.handle(call.request, async () => toStored(await original.apply(this, args)), call.mode);
    const headers = { ...(response.headers ?? {}), ...(replayed ? { [HEADERS.replayed]: 'true' } : {}) };
    return Object.keys(headers).length > 0 ? new RpcReply(response.data, headers) : response.data;
  };
  // What other decorators already put on the handler (its pattern, above all) stays on the function Nest reads.
  for (const key of Reflect.getMetadataKeys(original) as unknown[]) Reflect.defineMetadata(key, Reflect.getMetadata(key, original), wrapped);
  Object.defineProperty(wrapped, 'name', { value: original.name });
  return wrapped;
}

/**
 * Makes a mutating `@MessagePattern` handler idempotent under the caller's `idempotency-key` header (DESIGN §7).
 * The app must import `IdempotencyModule.forRoot(...)` (else it fails to start: the guard cannot be built).
 * Its use case should call `idempotency.completeWithin(tx, response)` inside its transaction.
 *
 * Two halves, neither an interceptor (issue 19): IdempotencyGuard, after the AccessGuard, reads the request as it
 * came; the handler itself is wrapped to run under the key. Pipes (the payload's validation) therefore run before
 * the key is claimed: an invalid request is answered without touching the key store.
 */
export const Idempotent =
  (options: IdempotentOptions = {}): MethodDecorator =>
  (target, key, descriptor) => {
    if (typeof descriptor.value !== 'function') throw new Error('@Idempotent() decorates a handler method');
    (descriptor as unknown as TypedPropertyDescriptor<Handler>).value = underKey(descriptor.value as unknown as Handler);
    SetMetadata(IDEMPOTENT_METADATA, { mode: options.mode ?? 'claim' })(target, key, descriptor);
    UseGuards(IdempotencyGuard)(target, key, descriptor);
    return descriptor;
  };
