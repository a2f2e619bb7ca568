import { z } from 'zod';

const utf8 = new TextEncoder();

/** One request/reply subject with the schemas both sides parse with. */
export interface RpcContract<Req extends z.ZodType = z.ZodType, Res extends z.ZodType = z.ZodType> {
  readonly subject: string;
  readonly request: Req;
  readonly reply: Res;
  /** Mutating calls accept an idempotency key. */
  readonly mutating: boolean;
}

/**
 * A request/reply contract. Its request schema also refuses, anywhere in the payload, what no service can store or
 * serialise ({@link unstorableIssues}): every field of every contract, now and later, without each naming it.
 */
export function rpc<Req extends z.ZodType, Res extends z.ZodType>(
  subject: string,
  request: Req,
  reply: Res,
  opts: { mutating?: boolean } = {},
): RpcContract<Req, Res> {
  const storable = request.superRefine((value, ctx) => {
    const issues = unstorableIssues(value);
    if (issues.length === 0) return;
    // a field its own schema already refused (a Name's control characters) is named once
    const named = new Set(ctx.issues.map((i) => JSON.stringify(i.path ?? [])));
    for (const issue of issues) if (!named.has(JSON.stringify(issue.path))) ctx.addIssue({ code: 'custom', ...issue });
  });
  return { subject, request: storable, reply, mutating: opts.mutating ?? false };
}

/** How deep a request's JSON may nest: far beyond any real document, far short of exhausting a serialiser's stack. */
export const MAX_JSON_DEPTH = 64;
/** At most this many such issues are named in one answer (a payload may hold thousands). */
const MAX_UNSTORABLE_ISSUES = 10;
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function unstorableText(s: string): string | undefined {
  if (!UNSTORABLE.test(s)) return undefined;
  return s.includes('\u0000') ? 'must not contain a NUL character (\\u0000)' : 'must not contain an unpaired UTF-16 surrogate';
}

/**
 * What in a request no database column can hold and no serialiser should be asked to walk: a string, a value's or an
 * object key's, with a NUL character (PostgreSQL's `text` and `jsonb` refuse it) or an unpaired UTF-16 surrogate
 * (UTF-8 cannot encode it; valid JSON can carry it as an escape), and a value nested deeper than
 * {@link MAX_JSON_DEPTH}, and a number JSON can read but not write (`1e400`: Infinity, stored as null, and a payload
 * no idempotency key can hash). Each is named at its path; a key at the path it would have. Iterative: no nesting can
 * exhaust the stack here. Without it these reached PostgreSQL and answered INTERNAL, or a 503 from a serialiser.
 */
export function unstorableIssues(value: unknown): Array<{ path: PropertyKey[]; message: string }> {
  const issues: Array<{ path: PropertyKey[]; message: string }> = [];
  // each node keeps its parent, so a path is built only for an issue
  interface Node { value: unknown; path: { key: PropertyKey; parent: Node['path'] } | undefined; depth: number }
  const pathOf = (at: Node['path'], last?: PropertyKey): PropertyKey[] => {
    const path: PropertyKey[] = last === undefined ? [] : [last];
    for (let p = at; p; p = p.parent) path.unshift(p.key);
    return path;
  };
  const stack: Node[] = [{ value, path: undefined, depth: 0 }];
  for (let node = stack.pop(); node && issues.length < MAX_UNSTORABLE_ISSUES; node = stack.pop()) {
    const v = node.value;
    if (typeof v === 'string') {
      const message = unstorableText(v);
      if (message) issues.push({ path: pathOf(node.path), message });
      continue;
    }
    // `1e400` is JSON that reads as Infinity, which JSON cannot write back (it would be stored as null)
    if (typeof v === 'number' && !Number.isFinite(v)) {
      issues.push({ path: pathOf(node.path), message: 'must be a finite number (JSON has no Infinity)' });
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (node.depth >= MAX_JSON_DEPTH) {
      issues.push({ path: pathOf(node.path), message: `must not nest deeper than ${MAX_JSON_DEPTH} levels` });
      continue;
    }
    const entries: Array<[PropertyKey, unknown]> = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
    for (const [k] of entries) {
      const message = typeof k === 'string' ? unstorableText(k) : undefined;
      if (message) issues.push({ path: pathOf(node.path, k), message: `the key ${message}` });
    }
    // pushed last to first, so they are walked, and named, in the payload's order
    for (const [k, x] of [...entries].reverse()) stack.push({ value: x, path: { key: k, parent: node.path }, depth: node.depth + 1 });
  }
  return issues.slice(0, MAX_UNSTORABLE_ISSUES);
}

export type RequestOf<C extends RpcContract> = z.infer<C['request']>;
export type ReplyOf<C extends RpcContract> = z.infer<C['reply']>;

/** An event published on JetStream (`events.<service>.<type>`). */
export interface EventContract<P extends z.ZodType = z.ZodType> {
  readonly subject: string;
  readonly payload: P;
}

export function event<P extends z.ZodType>(subject: string, payload: P): EventContract<P> {
  return { subject, payload };
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** The bidirectional embeddings, overrides and isolates: text that displays in another order than it reads (CVE-2021-42574). */
const BIDI_CONTROL = /[\u202a-\u202e\u2066-\u2069]/;
// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\u0000-\u007f]/;

/** Why `s` is not text a person can read as what it is: a control character (C0, DEL, C1), a bidirectional control. */
function unreadable(s: string): string | undefined {
  if (CONTROL.test(s)) return 'must not contain control characters';
  if (BIDI_CONTROL.test(s)) return 'must not contain bidirectional control characters (U+202A–U+202E, U+2066–U+2069)';
  return undefined;
}

/** Text a person reads in a list, a log line or the console ({@link unreadable}); one issue at most. */
export function readableText<T extends z.ZodType<string>>(schema: T): T {
  return schema.superRefine((s, ctx) => {
    const message = unreadable(s);
    if (message) ctx.addIssue({ code: 'custom', message });
  });
}

/** Whether `s` is in Unicode normalization form C (ASCII always is: no call for it). */
export function isNfc(s: string): boolean {
  return !NON_ASCII.test(s) || s.normalize('NFC') === s;
}

/**
 * A short human-facing name, which a resource is looked up by: 1–200 chars, readable, trimmed, and in NFC, so that
 * one text is one name: "café" typed as é or as e + U+0301 would otherwise be two tasks that look the same, and a
 * lookup in the other form would not find it. One issue at most: the first of these it fails.
 */
export const Name = z
  .string()
  .min(1)
  .max(200, { abort: true })
  .superRefine((s, ctx) => {
    const message =
      unreadable(s) ??
      (s.trim() !== s ? 'must not start or end with white space' : undefined) ??
      (isNfc(s) ? undefined : 'must be in Unicode normalization form C (NFC: String.prototype.normalize, unicodedata.normalize)');
    if (message) ctx.addIssue({ code: 'custom', message });
  })
  .describe('1–200 characters in Unicode NFC; no control or bidirectional control character; no white space at either end');

/**
 * A value a REST route carries as one URL path segment. `.` and `..`, even percent-encoded, are dot segments that
 * every WHATWG URL client (fetch, browsers) removes from a path: a resource of either name could never be addressed.
 */
export function pathSegment<T extends z.ZodType<string>>(schema: T): T {
  return schema.refine((v) => v !== '.' && v !== '..', { message: 'must not be "." or ".." (a URL path cannot carry it)' });
}

/**
 * The most a free-form JSON object a caller stores may weigh as JSON text (a task's params, a release's config, a
 * convention's schema, an output row): so that one item, with the rest of its record, always fits one reply.
 */
export const JSON_OBJECT_MAX_BYTES = 262_144;

/**
 * A UUID in either case, read as lower case: the form every id is stored and compared in (a lease token or an id a
 * client wrote in upper case is the same one).
 */
export const Uuid = z.uuid().toLowerCase();
export const Timestamp = z.string().describe('ISO 8601 timestamp');
export const JsonObject = z.record(z.string(), z.unknown());
/** A value's JSON text (`''` for none), or `undefined` for one nested too deeply for `JSON.stringify`. */
function jsonText(v: unknown): string | undefined {
  try {
    return JSON.stringify(v) ?? '';
  } catch (err) {
    if (err instanceof RangeError) return undefined;
    throw err;
  }
}

const NodeBuffer = (globalThis as { Buffer?: { byteLength(s: string, encoding: 'utf8'): number } }).Buffer;

/** The UTF-8 byte length of `s`: counted without encoding it where the runtime can (Node's Buffer). */
function utf8Length(s: string): number {
  return NodeBuffer ? NodeBuffer.byteLength(s, 'utf8') : utf8.encode(s).length;
}

/**
 * Whether a text of `units` UTF-16 code units surely fits `max` bytes of UTF-8 without counting them: a code unit is
 * at most 3 bytes (a surrogate pair, two units, is 4).
 */
const surelyWithin = (units: number, max: number): boolean => units * 3 <= max;

/**
 * The byte length of a value's JSON text, or `undefined` for one nested too deeply for `JSON.stringify` (a few
 * thousand levels of `[`, 10 KB of text): the request's own check names that one (MAX_JSON_DEPTH), once.
 */
export function jsonBytes(v: unknown): number | undefined {
  const text = jsonText(v);
  return text === undefined ? undefined : utf8Length(text);
}

/** Whether a value's JSON text is at most `max` bytes (one too deep to measure is left to the depth check). */
export function jsonWithin(v: unknown, max: number): boolean {
  const text = jsonText(v);
  return text === undefined || surelyWithin(text.length, max) || utf8Length(text) <= max;
}

/** `schema`, whose JSON text is also at most `max` bytes (one too deep to measure is left to the depth check). */
export function boundedJson<T extends z.ZodType>(schema: T, max: number): T {
  return schema.refine((v) => jsonWithin(v, max), { message: `must be at most ${max} bytes of JSON` });
}

/** A JsonObject a caller gives, at most JSON_OBJECT_MAX_BYTES as JSON text. */
export const JsonObjectInput = boundedJson(JsonObject, JSON_OBJECT_MAX_BYTES);

/** The largest value of a PostgreSQL `integer` column: a bound for every integer a request carries into one. */
export const MAX_INT4 = 2_147_483_647;

/**
 * An instant a caller gives: ISO 8601 with an offset, whose UTC year is 0001–9999. Those are the years both
 * PostgreSQL and `Date#toISOString` write as four digits (PostgreSQL has no year 0000, and reads no `+010000`).
 */
export const DateTimeInput = z.iso.datetime({ offset: true }).refine(
  (s) => {
    const year = new Date(s).getUTCFullYear();
    // not a datetime at all: the format check names it, once
    return Number.isNaN(year) || (year >= 1 && year <= 9999);
  },
  { message: 'must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z' },
);

/**
 * What a page's items may weigh as JSON text: a reply is one NATS message, whose max_payload is 1 MiB in our config,
 * and the rest of the reply needs room too. A list whose `limit` items would weigh more answers fewer, with its cursor
 * after the last one it holds (a page may be short while its cursor is set).
 */
export const REPLY_BUDGET_BYTES = 786_432;

/** How many of the leading items fit REPLY_BUDGET_BYTES: at least one, so a page always moves on. */
export function itemsWithinBudget(items: readonly unknown[], budgetBytes = REPLY_BUDGET_BYTES): number {
  // the usual page is far under the budget: one text of them all and no byte counted (a quarter of counting each;
  // tools/bench/contracts)
  const whole = jsonText(items);
  if (whole !== undefined && surelyWithin(whole.length, budgetBytes)) return items.length;
  let total = 0;
  for (let i = 0; i < items.length; i++) {
    total += (jsonBytes(items[i]) ?? 0) + 1;
    if (total > budgetBytes && i > 0) return i;
  }
  return items.length;
}

/** A number written in decimal, as a query string or a path carries one: `-1`, `07`, `1.5`, not `0x10`, `1e2` or ``. */
const DECIMAL_TEXT = /^-?[0-9]{1,16}(\.[0-9]{1,16})?$/;

/**
 * An integer field a query string or a path may carry (`limit`, `waitMs`, a release's `version`): a JSON number, or
 * its decimal text. `z.coerce.number()` took anything `Number()` does, so `?limit=0x10` read 16, `?waitMs=` read 0 and
 * a NATS caller's `"limit": true` read 1; now each is "expected an integer" at its field. `int` is the number schema
 * with its bounds and any `.optional()`/`.default()`.
 */
export function intParam<T extends z.ZodType>(int: (n: z.ZodNumber) => T) {
  const number = z.number({ error: (iss) => (iss.code === 'invalid_type' && iss.input !== undefined ? 'expected an integer' : undefined) }).int();
  return z.preprocess((v) => (typeof v === 'string' && DECIMAL_TEXT.test(v) ? Number(v) : v), int(number));
}

export const Limit = intParam((n) => n.min(1).max(500).default(50));
export const Cursor = z.string().min(1).max(512).optional();

export function page<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() });
}

/**
 * A page of an audit (`authz.v1.grant_history`, `workspaces.v1.list_plugin_changes`): `keptSince` is the time since
 * which every change is kept, where the service forgets older ones (its retention); null while it keeps every one.
 */
export function auditPage<T extends z.ZodType>(item: T) {
  return page(item).extend({ keptSince: Timestamp.nullable() });
}

export const Empty = z.object({}).strict();
export const NoContent = z.null();
