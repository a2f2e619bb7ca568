import { applyDecorators, SetMetadata, UseInterceptors } from '@nestjs/common';
import { IdempotencyInterceptor } from './idempotency.interceptor.js';

export const IDEMPOTENT_METADATA = 'agentplane:idempotent';

/**
 * Makes a mutating `@MessagePattern` handler idempotent under the caller's `idempotency-key` header (DESIGN §7).
 * The app must import `IdempotencyModule.forRoot(...)` (else it fails to start: the interceptor cannot be built).
 * Its use case should call `idempotency.completeWithin(tx, response)` inside its transaction.
 */
export const Idempotent = (): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(IDEMPOTENT_METADATA, true), UseInterceptors(IdempotencyInterceptor));
