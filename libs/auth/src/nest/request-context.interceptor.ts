import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Observable } from 'rxjs';
import { runWithRequestContext } from '../request-context.js';
import { readHeader } from './access.guard.js';
import { getCallerToken, getPrincipal } from './principal-context.js';

interface HttpRequest {
  id?: unknown;
  headers?: Record<string, string | string[] | undefined>;
}

function requestIdOf(context: ExecutionContext): string | undefined {
  if (context.getType() === 'http') {
    const req = context.switchToHttp().getRequest<HttpRequest>();
    return req.id === undefined ? undefined : String(req.id);
  }
  return readHeader(context.switchToRpc().getContext(), 'x-request-id');
}

/**
 * Makes the principal and raw token the AccessGuard verified available as `currentRequestContext()` for the whole
 * handler (pipes, use cases, outgoing calls), in HTTP and NATS alike. Public handlers get no context.
 */
@Injectable()
export class RequestContextInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const principal = getPrincipal(context);
    if (!principal) return next.handle();
    const ctx = { principal, token: getCallerToken(context), requestId: requestIdOf(context) };
    return new Observable((subscriber) => runWithRequestContext(ctx, () => next.handle().subscribe(subscriber)));
  }
}
