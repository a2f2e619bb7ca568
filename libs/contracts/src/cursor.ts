import { z } from 'zod';
import { DomainError } from '@agentplane/domain';
import { MAX_INT4 } from './rpc.js';

/**
 * The answer to a cursor no list gave (tampered, foreign, another list's): VALIDATION naming `cursor`, never the
 * INTERNAL that PostgreSQL's refusal of its value would be.
 */
export function invalidCursor(): DomainError {
  return new DomainError('VALIDATION', 'cursor is not one this list returned', { issues: [{ path: 'cursor', message: 'invalid cursor' }] });
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** A keyset cursor, opaque to callers: base64url (unpadded) of `value`'s JSON text, UTF-8. */
export function encodeCursor(value: unknown): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(JSON.stringify(value))) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * The value of a cursor {@link encodeCursor} made, as `schema` parses it. Anything else (not base64url, not UTF-8,
 * not JSON, not of `schema`) is {@link invalidCursor}: `schema` is to admit only what the list's query can take.
 */
export function decodeCursor<S extends z.ZodType>(cursor: string, schema: S): z.output<S> {
  let value: unknown;
  try {
    if (!BASE64URL.test(cursor)) throw invalidCursor();
    const binary = atob(cursor.replace(/-/g, '+').replace(/_/g, '/'));
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
  } catch {
    throw invalidCursor();
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw invalidCursor();
  return parsed.data;
}

/** `Date#toISOString` of a year 0001–9999: PostgreSQL has no year 0000, and `timestamptz` reads no `+010000`. */
const ISO_INSTANT = /^(?!0000)[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$/;

/**
 * An instant in a cursor, as a Date: exactly the text `toISOString()` wrote for it (so no `2026-02-31`, which
 * `Date.parse` rolls over to March, nor `24:00`).
 */
export const CursorInstant = z
  .string()
  .regex(ISO_INSTANT)
  .refine((s) => {
    const ms = Date.parse(s);
    return !Number.isNaN(ms) && new Date(ms).toISOString() === s;
  })
  .transform((s) => new Date(s));

/**
 * A name in a cursor: what every version of `Name` has allowed (1–200 chars, no C0 control or DEL, so no NUL, which
 * PostgreSQL's `text` refuses). Not `Name` itself: a row written before it refused C1 and bidirectional controls and
 * text not in NFC may hold them, and a cursor at that row must still page.
 */
// eslint-disable-next-line no-control-regex
export const CursorName = z.string().min(1).max(200).regex(/^[^\u0000-\u001f\u007f]*$/);

/** A positive PostgreSQL `integer` in a cursor (a release's version): a JSON number, not its text. */
export const CursorPositiveInt4 = z.number().int().min(1).max(MAX_INT4);
