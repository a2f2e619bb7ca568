/** Error codes that cross process boundaries (DESIGN §8). Codes, not classes: instanceof does not survive NATS. */
export const ERROR_CODES = [
  'VALIDATION',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'IDEMPOTENCY_IN_PROGRESS',
  'IDEMPOTENCY_MISMATCH',
  'UNAVAILABLE',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: unknown;
  errorId?: string;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

export class DomainError extends Error {
  override readonly name = 'DomainError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    readonly errorId?: string,
  ) {
    super(message);
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message };
    if (this.details !== undefined) body.details = this.details;
    if (this.errorId !== undefined) body.errorId = this.errorId;
    return body;
  }

  static from(body: ErrorBody): DomainError {
    return new DomainError(body.code, body.message, body.details, body.errorId);
  }
}

/** True for a DomainError, also one from another copy of this module (duck-typed on purpose). */
export function isDomainError(err: unknown): err is DomainError {
  return (
    err instanceof DomainError ||
    (typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'DomainError' && isErrorCode((err as { code?: unknown }).code))
  );
}

export interface ValidationIssue {
  path: string;
  message: string;
}

export function validationError(issues: ValidationIssue[], message?: string): DomainError {
  const first = issues[0];
  return new DomainError(
    'VALIDATION',
    message ?? (first ? `${first.path || '(body)'}: ${first.message}` : 'invalid input'),
    { issues },
  );
}

/** Exhaustiveness helper: a new code that is not handled becomes a compile error. */
export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${String(value)}`);
}
