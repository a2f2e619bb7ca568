import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
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
    if (host.getType() === 'rpc') return throwError(() => body);
    const reply = host.switchToHttp().getResponse<HttpReply>();
    reply.status(status ?? httpStatusOf(body.code)).header('content-type', 'application/json; charset=utf-8').send({ error: body });
  }
}
