import { assertNever, type ErrorCode } from '@agentplane/domain';

/** The one place a code becomes an HTTP status (DESIGN §8). A new code is a compile error here. */
export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case 'VALIDATION':
      return 400;
    case 'UNAUTHENTICATED':
      return 401;
    case 'FORBIDDEN':
      return 403;
    case 'NOT_FOUND':
      return 404;
    case 'CONFLICT':
      return 409;
    case 'IDEMPOTENCY_IN_PROGRESS':
      return 409;
    case 'IDEMPOTENCY_MISMATCH':
      return 422;
    case 'UNAVAILABLE':
      return 503;
    case 'INTERNAL':
      return 500;
    default:
      return assertNever(code);
  }
}

/** An HTTP status from the framework (bad JSON, unknown route, body too large) seen as a code. */
export function codeOfHttpStatus(status: number): ErrorCode {
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 404) return 'NOT_FOUND';
  if (status === 409) return 'CONFLICT';
  if (status === 503) return 'UNAVAILABLE';
  if (status >= 400 && status < 500) return 'VALIDATION';
  return 'INTERNAL';
}
