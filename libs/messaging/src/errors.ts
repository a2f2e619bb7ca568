import { randomUUID } from 'node:crypto';
import { DomainError, isDomainError, validationError, type ErrorBody } from '@agentplane/domain';
import { ZodError } from 'zod';

/** Zod issues as `{path, message}` with a dotted path (`hooks.2.release.digest`). */
export function fromZodError(err: ZodError, prefix?: string): DomainError {
  return validationError(
    err.issues.map((i) => ({ path: [prefix, ...i.path.map(String)].filter(Boolean).join('.'), message: i.message })),
  );
}

export interface NormalisedError {
  body: ErrorBody;
  /** The original error when it was unexpected (to be logged with body.errorId), else undefined. */
  unexpected?: unknown;
}

/** Any thrown value → a safe error body. Unexpected errors get an errorId and a generic message (no stack, no SQL). */
export function normaliseError(err: unknown): NormalisedError {
  if (isDomainError(err)) return { body: err.toBody() };
  if (err instanceof ZodError) return { body: fromZodError(err).toBody() };
  const errorId = randomUUID();
  return { body: { code: 'INTERNAL', message: `internal error (errorId ${errorId})`, errorId }, unexpected: err };
}
