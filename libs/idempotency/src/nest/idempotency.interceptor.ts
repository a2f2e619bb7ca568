import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { PATTERN_METADATA } from '@nestjs/microservices/constants.js';
import { defer, lastValueFrom, map, type Observable } from 'rxjs';
import { getPrincipal, readHeader } from '@agentplane/auth';
import { HEADERS } from '@agentplane/contracts';
import { RpcReply } from '@agentplane/messaging';
import { Idempotency, type IdempotencyMode } from '../core/idempotency.js';
import type { StoredResponse } from '../core/store.js';
import { IDEMPOTENT_METADATA } from './metadata.js';

/** The handler's pattern (not the wire subject, which may carry a deployment prefix). */
function patternOf(context: ExecutionContext): string {
  const patterns: unknown = Reflect.getMetadata(PATTERN_METADATA, context.getHandler());
  const p = Array.isArray(patterns) ? patterns[0] : patterns;
  return typeof p === 'string' ? p : JSON.stringify(p);
}

/** The mode `@Idempotent()` set on the handler (or its class). */
function modeOf(context: ExecutionContext): IdempotencyMode {
  const meta = (Reflect.getMetadata(IDEMPOTENT_METADATA, context.getHandler()) ?? Reflect.getMetadata(IDEMPOTENT_METADATA, context.getClass())) as
    | { mode?: IdempotencyMode }
    | undefined;
  return meta?.mode ?? 'claim';
}

function toStored(result: unknown): StoredResponse {
  return result instanceof RpcReply ? { data: result.data, headers: result.headers } : { data: result };
}

/**
 * Runs an `@Idempotent()` NATS handler under its `idempotency-key` header, scoped to the caller the AccessGuard
 * authenticated. A replay answers the stored data with the reply header `idempotent-replayed: true`.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(private readonly idempotency: Idempotency) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'rpc') {
      // Fail loud rather than silently unprotected: REST callers reach services through the gateway, which forwards the key.
      throw new Error('@Idempotent() applies to NATS @MessagePattern handlers only');
    }
    const rpc = context.switchToRpc();
    const request = {
      principal: getPrincipal(context),
      key: readHeader(rpc.getContext(), HEADERS.idempotencyKey),
      subject: patternOf(context),
      payload: rpc.getData(),
    };
    const mode = modeOf(context);
    return defer(() =>
      this.idempotency.handle(request, async () => toStored(await lastValueFrom(next.handle(), { defaultValue: undefined })), mode),
    ).pipe(
      map(({ replayed, response }) => {
        const headers = { ...(response.headers ?? {}), ...(replayed ? { [HEADERS.replayed]: 'true' } : {}) };
        return Object.keys(headers).length > 0 ? new RpcReply(response.data, headers) : response.data;
      }),
    );
  }
}
