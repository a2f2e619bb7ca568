import { Catch, HttpException, Logger, NotFoundException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { throwError, type Observable } from 'rxjs';
import type { ErrorBody } from '@agentplane/domain';
import { codeOfHttpStatus, httpStatusOf } from './http-status.js';
import { normaliseError } from './errors.js';

interface HttpReply {
  status(code: number): HttpReply;
  header(name: string, value: string): HttpReply;
  send(body: unknown): unknown;
}

/**
 * Where the body a framework refusal names is at fault, for a client that reads `details.issues` of every VALIDATION
 * (the body's size; a content type that is not JSON).
 */
const FRAMEWORK_ISSUES: Partial<Record<number, { message: string; issue: { path: string; message: string } }>> = {
  413: { message: 'the body is too large', issue: { path: '', message: 'larger than this server accepts' } },
  415: { message: 'the body must be JSON', issue: { path: 'header.content-type', message: 'must be application/json' } },
};

/** What the not-found handler's request offers: Fastify's router, which matches a concrete path per method. */
interface RoutedRequest {
  method?: string;
  url?: string;
  server?: { findRoute?(opts: { method: string; url: string }): { params?: Record<string, string> } | null };
}

const METHODS = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT'] as const;

/**
 * The methods the request's path takes, when its own is not one of them (`PATCH /v1/tasks/{id}`): a 405 with `Allow`
 * (RFC 9110 §15.5.6) then, where a 404 would say the path is not there. Asked of a request that reached the not-found
 * handler: one no route took, or one whose route sent it there.
 */
function allowedMethods(request: RoutedRequest): string[] {
  const find = request.server?.findRoute?.bind(request.server);
  if (!find || typeof request.url !== 'string') return [];
  const url = request.url.split('?', 1)[0] ?? '';
  // an empty path parameter (`/v1/tasks/` against `/v1/tasks/:id`) is no path the router serves
  const takes = (method: string) => {
    const route = find({ method, url });
    return route !== null && !Object.values(route.params ?? {}).includes('');
  };
  // a route of its own method took it and answered not found (a static file that is not there): no method question
  if (request.method !== undefined && takes(request.method)) return [];
  return METHODS.filter((method) => method !== request.method && takes(method));
}

/**
 * An UNAVAILABLE's `details.outcome` says what became of a request this process sent (RpcClient's `unavailable`); a
 * service that answers with it failed its own request, whose caller would read it as the outcome of that one (a
 * create "unknown" because the authz check it asked timed out, where nothing was written), so it is not passed on.
 */
function withoutHopOutcome(body: ErrorBody): ErrorBody {
  const details = body.details as { outcome?: unknown } | undefined;
  if (body.code !== 'UNAVAILABLE' || details === null || typeof details !== 'object' || !('outcome' in details)) return body;
  const { outcome: _outcome, ...rest } = details;
  const { details: _details, ...without } = body;
  return Object.keys(rest).length > 0 ? { ...without, details: rest } : without;
}

/**
 * The one exception filter of every app: a DomainError crosses NATS as its code and HTTP as its status; anything
 * else becomes INTERNAL with an errorId that is also in the log line (never a stack or SQL in the body).
 */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('ErrorFilter');

  catch(exception: unknown, host: ArgumentsHost): Observable<never> | void {
    let body: ErrorBody;
    let status: number | undefined;
    if (exception instanceof HttpException) {
      status = exception.getStatus();
      const code = codeOfHttpStatus(status);
      const known = FRAMEWORK_ISSUES[status];
      body = known
        ? { code, message: known.message, details: { issues: [known.issue] } }
        : { code, message: status >= 500 ? 'internal error' : exception.message };
    } else {
      const n = normaliseError(exception);
      body = n.body;
      if (n.unexpected !== undefined) {
        this.logger.error({ errorId: body.errorId, err: n.unexpected }, `unexpected error, errorId ${body.errorId}`);
      } else if (body.code === 'INTERNAL') {
        this.logger.error({ errorId: body.errorId }, `internal error from a service, errorId ${body.errorId}`);
      }
    }
    if (host.getType() === 'rpc') return throwError(() => withoutHopOutcome(body));
    const reply = host.switchToHttp().getResponse<HttpReply>();
    // Nest's handler of a request no route took throws NotFoundException ("Cannot GET <the URL>", its query too); a
    // handler's own 404 is a DomainError
    if (exception instanceof NotFoundException) {
      const request = host.switchToHttp().getRequest<RoutedRequest>();
      const method = String(request.method);
      const allow = allowedMethods(request);
      if (allow.length > 0) {
        status = 405;
        body = { code: 'VALIDATION', message: `this path does not take ${method}: it takes ${allow.join(', ')}`, details: { issues: [{ path: 'method', message: `one of ${allow.join(', ')}` }] } };
        reply.header('allow', allow.join(', '));
      } else if (body.message.startsWith('Cannot ')) {
        // the path, not the query (a client's stray token must not come back in a body), and not 16 KiB of it
        const path = (request.url ?? '').split('?', 1)[0] ?? '';
        body = { code: body.code, message: `no route for ${method} ${path.length > 200 ? `${path.slice(0, 200)}…` : path}` };
      }
    }
    const code = status ?? httpStatusOf(body.code);
    // as a stopping instance says it (bootstrap): another instance, or this service once up, may take it in a second
    if (code === 503) reply.header('retry-after', '1');
    reply.status(code).header('content-type', 'application/json; charset=utf-8').send({ error: body });
  }
}
