import { applyDecorators, SetMetadata, UseInterceptors } from '@nestjs/common';
import type { IdempotencyMode } from '../core/idempotency.js';
import { IdempotencyInterceptor } from './idempotency.interceptor.js';
import { IDEMPOTENT_METADATA } from './metadata.js';

export { IDEMPOTENT_METADATA };

export interface IdempotentOptions {
  /**
   * `claim` (default) suits any handler. `transaction` is for a use case whose whole effect is one `SqlPool`
   * transaction that calls `completeWithin` (it fails loudly otherwise); see IdempotencyMode.
   */
  mode?: IdempotencyMode;
}

/**
 * Makes a mutating `@MessagePattern` handler idempotent under the caller's `idempotency-key` header (DESIGN §7).
 * The app must import `IdempotencyModule.forRoot(...)` (else it fails to start: the interceptor cannot be built).
 * Its use case should call `idempotency.completeWithin(tx, response)` inside its transaction.
 */
export const Idempotent = (options: IdempotentOptions = {}): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(IDEMPOTENT_METADATA, { mode: options.mode ?? 'claim' }), UseInterceptors(IdempotencyInterceptor));
