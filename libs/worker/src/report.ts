import { TASK_LIMITS, tasksContract, unstorableIssues, type RequestOf } from '@agentplane/contracts';

/** The error of a fail call (libs/contracts `TaskError`). */
export type TaskError = RequestOf<typeof tasksContract.fail>['error'];

/**
 * The contract's bounds on a fail's error (libs/contracts `TaskError`): its texts in code points, its JSON in bytes.
 * The unit tests prove every error built here against the contract's own schema.
 */
export const TASK_ERROR_LIMITS = { messageCodePoints: 4_000, typeCodePoints: 200, bytes: TASK_LIMITS.errorBytes } as const;

/** The most tasks one claim may ask for (libs/contracts `ClaimRequest.max`). */
export const CLAIM_MAX = 100;

/** Error types the worker itself reports (docs/worker-protocol.md). */
export const WORKER_ERROR_TYPES = {
  /** The handler's result cannot be stored (not JSON, or refused by the complete's contract): never retried. */
  resultRejected: 'ResultRejected',
  /** The tasks service refused the error a handler's throw became; sent instead, `retryable` as intended. */
  errorRejected: 'ErrorRejected',
} as const;

/** A message that always passes the contract, for when nothing better does. */
const UNREPORTABLE = 'the attempt failed; its error could not be reported';
/** The least of the error's bytes its message keeps beside its details: details that leave less are dropped. */
const MIN_MESSAGE_BYTES = 1_024;
const ELLIPSIS = '…';
const REPLACEMENT = 0xfffd;
/** Placeholders that make a fail request of an error alone, to check it against the contract's schema. */
const CHECK_ID = '00000000-0000-4000-8000-000000000000';

export function messageOf(err: unknown): string {
  try {
    if (err instanceof Error) return String(err.message);
    if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') return (err as { message: string }).message;
    return String(err);
  } catch {
    return '';
  }
}

/** Bytes of one code point in a JSON string's UTF-8 text (JSON.stringify's escapes). */
function jsonCharBytes(cp: number): number {
  if (cp === 0x22 || cp === 0x5c) return 2;
  if (cp < 0x20) return cp === 0x08 || cp === 0x09 || cp === 0x0a || cp === 0x0c || cp === 0x0d ? 2 : 6;
  if (cp < 0x80) return 1;
  if (cp < 0x800) return 2;
  if (cp < 0x10000) return 3;
  return 4;
}

/**
 * `s` as text every service can store: a NUL character and an unpaired UTF-16 surrogate each replaced by U+FFFD,
 * and cut, at a code point and marked with "…", to at most `maxCodePoints` code points whose JSON string (quotes
 * included) is at most `maxJsonBytes` bytes of UTF-8. Only as much of `s` as fits is read.
 */
export function storableText(s: string, maxCodePoints: number, maxJsonBytes: number): string {
  let out = '';
  let codePoints = 0;
  let bytes = 2;
  // how much of `out` still leaves room for the ellipsis (1 code point, 3 bytes)
  let withEllipsis = 0;
  for (let i = 0; i < s.length; ) {
    let cp = s.codePointAt(i) as number;
    const units = cp > 0xffff ? 2 : 1;
    if (cp === 0 || (cp >= 0xd800 && cp <= 0xdfff)) cp = REPLACEMENT;
    const b = jsonCharBytes(cp);
    if (codePoints + 1 > maxCodePoints || bytes + b > maxJsonBytes) return out.slice(0, withEllipsis) + ELLIPSIS;
    out += String.fromCodePoint(cp);
    codePoints += 1;
    bytes += b;
    if (codePoints < maxCodePoints && bytes + 3 <= maxJsonBytes) withEllipsis = out.length;
    i += units;
  }
  return out;
}

function jsonLength(v: unknown): number {
  return Buffer.byteLength(JSON.stringify(v), 'utf8');
}

/** Details as the JSON object the service will read, or why they cannot be sent. */
function jsonDetails(details: unknown): { value: Record<string, unknown> } | { dropped: string } {
  let text: string | undefined;
  try {
    text = JSON.stringify(details);
  } catch (err) {
    return { dropped: `not serialisable as JSON (${messageOf(err)})` };
  }
  const value: unknown = text === undefined ? undefined : JSON.parse(text);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { dropped: 'not a JSON object' };
  const [issue] = unstorableIssues(value);
  if (issue) return { dropped: `${issue.path.map(String).join('.') || '(details)'}: ${issue.message}` };
  return { value: value as Record<string, unknown> };
}

/** Whether the contract's fail request takes `error`, as the service would read it (JSON). */
export function isValidTaskError(error: unknown): boolean {
  let wire: unknown;
  try {
    wire = JSON.parse(JSON.stringify(error));
  } catch {
    return false;
  }
  return tasksContract.fail.request.safeParse({ id: CHECK_ID, leaseToken: CHECK_ID, error: wire }).success;
}

/**
 * An error the fail call's contract always takes: its message and type made storable and cut to the contract's
 * limits ({@link storableText}; an empty message is `"failed"`, an empty type `"Error"`); its details kept when they
 * are a JSON object the service can store and fit beside at least 1 KiB of the message, else replaced by
 * `{detailsDropped: why}`. It is checked against the contract's own schema: should it still not pass, the message and
 * type alone are sent, and failing that a fixed message.
 */
export function taskError(parts: { message: string; type: string; retryable: boolean; details?: unknown }): TaskError {
  const { retryable } = parts;
  const type = storableText(parts.type, TASK_ERROR_LIMITS.typeCodePoints, TASK_ERROR_LIMITS.typeCodePoints * 6 + 2) || 'Error';
  let details: Record<string, unknown> | undefined;
  if (parts.details !== undefined) {
    const d = jsonDetails(parts.details);
    details = 'value' in d ? d.value : { detailsDropped: storableText(d.dropped, 500, 2_000) };
  }
  const room = () => TASK_ERROR_LIMITS.bytes - jsonLength({ message: '', type, retryable, ...(details ? { details } : {}) }) + 2;
  if (details && room() < MIN_MESSAGE_BYTES) {
    const size = jsonLength(details);
    details = { detailsDropped: `too large: ${size} bytes of JSON, beside the message (the whole error may hold ${TASK_ERROR_LIMITS.bytes})` };
  }
  const message = storableText(parts.message, TASK_ERROR_LIMITS.messageCodePoints, room()) || 'failed';
  const candidates: TaskError[] = [
    { message, type, retryable, ...(details ? { details } : {}) },
    { message, type, retryable },
    { message: UNREPORTABLE, type: WORKER_ERROR_TYPES.errorRejected, retryable },
  ];
  return candidates.find(isValidTaskError) ?? (candidates[2] as TaskError);
}

/** A thrown value's class for the error's `type`: an Error's name (else its constructor's), else its `typeof`. */
export function typeOf(err: unknown): string {
  try {
    if (err instanceof Error) return (typeof err.name === 'string' && err.name) || err.constructor?.name || 'Error';
  } catch {
    return 'Error';
  }
  return err === null ? 'null' : typeof err;
}

/**
 * A handler's result as the complete call will carry it (its JSON value; `undefined` for none), or, when it cannot
 * be stored (not serialisable as JSON, or refused by the complete's contract: over 64 KiB of JSON, a NUL, nested
 * too deeply), the non-retryable `ResultRejected` error to fail the attempt with instead.
 */
export function checkResult(task: { id: string; leaseToken: string }, result: unknown): { ok: true; result: unknown } | { ok: false; error: TaskError } {
  let text: string | undefined;
  try {
    text = JSON.stringify(result);
  } catch (err) {
    return { ok: false, error: resultRejected(`it is not serialisable as JSON (${typeOf(err)}: ${messageOf(err)})`) };
  }
  if (text === undefined) return { ok: true, result: undefined };
  const value: unknown = JSON.parse(text);
  const parsed = tasksContract.complete.request.safeParse({ id: task.id, leaseToken: task.leaseToken, result: value });
  if (parsed.success) return { ok: true, result: value };
  const issues = parsed.error.issues.slice(0, 10).map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
  return { ok: false, error: resultRejected(issues.map((i) => `${i.path || '(body)'}: ${i.message}`).join('; '), { issues }) };
}

/** The error an attempt whose result cannot be stored ends with: `ResultRejected`, never retried. */
export function resultRejected(why: string, details?: unknown): TaskError {
  return taskError({ message: `the result cannot be stored: ${why}`, type: WORKER_ERROR_TYPES.resultRejected, retryable: false, details });
}

/** What is sent instead of an error the tasks service answered VALIDATION to: `ErrorRejected`, as retryable. */
export function errorRejected(rejected: TaskError, serviceMessage: string): TaskError {
  return taskError({
    message: `the tasks service rejected the attempt's error (${rejected.type ?? 'Error'}): ${serviceMessage}`,
    type: WORKER_ERROR_TYPES.errorRejected,
    retryable: rejected.retryable ?? true,
  });
}

/**
 * Progress as the heartbeat will carry it (its JSON value), or why it cannot be (not serialisable as JSON, or refused
 * by the heartbeat's contract: over 16 KiB of JSON, a NUL, nested too deeply).
 */
export function checkProgress(task: { id: string; leaseToken: string }, progress: unknown): { ok: true; progress: unknown } | { ok: false; why: string } {
  let text: string | undefined;
  try {
    text = JSON.stringify(progress);
  } catch (err) {
    return { ok: false, why: `not serialisable as JSON (${messageOf(err)})` };
  }
  if (text === undefined) return { ok: true, progress: undefined };
  const value: unknown = JSON.parse(text);
  const parsed = tasksContract.heartbeat.request.safeParse({ id: task.id, leaseToken: task.leaseToken, progress: value });
  if (parsed.success) return { ok: true, progress: value };
  const [issue] = parsed.error.issues;
  return { ok: false, why: `${issue?.path.map(String).join('.') || '(body)'}: ${issue?.message ?? 'invalid'}` };
}
