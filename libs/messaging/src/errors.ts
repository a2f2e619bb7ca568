import { randomUUID } from 'node:crypto';
import { DomainError, isDomainError, validationError, type ErrorBody, type ValidationIssue } from '@agentplane/domain';
import { ZodError } from 'zod';

/**
 * Zod issues as `{path, message}` with a dotted path (`hooks.2.release.digest`). A field the contract does not know is
 * an issue of its own, at its own path (`nme`, `hooks.0.relase`: "unknown field"), not zod's one issue at the object
 * that holds it, so each answer names the field at fault, in the body or the query alike.
 */
export function zodIssues(err: ZodError, prefix?: string): ValidationIssue[] {
  return err.issues.flatMap((i) => {
    const at = [prefix, ...i.path.map(String)];
    if (i.code === 'unrecognized_keys') return i.keys.map((key) => ({ path: [...at, key].filter(Boolean).join('.'), message: 'unknown field' }));
    return [{ path: at.filter(Boolean).join('.'), message: i.message }];
  });
}

export function fromZodError(err: ZodError, prefix?: string): DomainError {
  return validationError(zodIssues(err, prefix));
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
