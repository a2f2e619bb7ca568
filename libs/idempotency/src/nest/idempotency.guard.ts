import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { PATTERN_METADATA } from '@nestjs/microservices/constants.js';
import { getPrincipal, readHeader, setRequestSlot } from '@agentplane/auth';
import { HEADERS } from '@agentplane/contracts';
import { Idempotency, type IdempotencyMode, type IdempotentRequest } from '../core/idempotency.js';
import { IDEMPOTENT_METADATA } from './metadata.js';

/** The handler's pattern (not the wire subject, which may carry a deployment prefix). */
function patternOf(context: ExecutionContext): string {
  const patterns: unknown = Reflect.getMetadata(PATTERN_METADATA, context.getHandler());
  const p = Array.isArray(patterns) ? patterns[0] : patterns;
  return typeof p === 'string' ? p : JSON.stringify(p);
}

/** The mode `@Idempotent()` set on the handler. */
function modeOf(context: ExecutionContext): IdempotencyMode {
  const meta = Reflect.getMetadata(IDEMPOTENT_METADATA, context.getHandler()) as { mode?: IdempotencyMode } | undefined;
  return meta?.mode ?? 'claim';
}

/** What IdempotencyGuard prepares for the `@Idempotent()` handler it guards (the handler's wrapper runs it). */
export interface PreparedIdempotentCall {
  idempotency: Idempotency;
  request: IdempotentRequest;
  mode: IdempotencyMode;
}

/** The request-scope slot of PreparedIdempotentCall. */
export const IDEMPOTENT_CALL = Symbol('agentplane:idempotent-call');

/**
 * The first half of `@Idempotent()`: after the AccessGuard authenticated the caller, reads the request as it came
 * (the `idempotency-key` header, the handler's pattern, the payload before any pipe) and keeps it, with the app's
 * Idempotency, in the request's scope; the handler's wrapper (the decorator's second half) runs the call under the
 * key. A guard, not an interceptor: Nest builds an rxjs chain per request for any handler with an interceptor, and
 * it cost more than the key's own work (issue 19). It always lets the call through; the wrapper decides.
 */
@Injectable()
export class IdempotencyGuard implements CanActivate {
  constructor(private readonly idempotency: Idempotency) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'rpc') {
      // Fail loud rather than silently unprotected: REST callers reach services through the gateway, which forwards the key.
      throw new Error('@Idempotent() applies to NATS @MessagePattern handlers only');
    }
    const rpc = context.switchToRpc();
    const call: PreparedIdempotentCall = {
      idempotency: this.idempotency,
      request: {
        principal: getPrincipal(context),
        key: readHeader(rpc.getContext(), HEADERS.idempotencyKey),
        subject: patternOf(context),
        payload: rpc.getData(),
      },
      mode: modeOf(context),
    };
    if (!setRequestSlot(IDEMPOTENT_CALL, call)) throw new Error('@Idempotent(): no request scope (the handler must be served by AgentplaneNatsServer)');
    return true;
  }
}
