import { randomUUIDv7 } from 'node:crypto';

export const RESOURCE_TYPES = ['tenant', 'agent', 'task', 'hook', 'release', 'run', 'workspace'] as const;
export type ResourceType = (typeof RESOURCE_TYPES)[number];

/**
 * Makes UUIDv7s that sort strictly in the order they were made, within one process (RFC 9562 §6.2, method 1: a
 * counter in the 12 bits after the version). Node's `randomUUIDv7` stamps the millisecond and fills the rest at
 * random, so two ids of one millisecond sort either way: a client's two creates in a row could list in the wrong
 * order ("newest first" ties on the millisecond and falls back to the id). Here the first id of a millisecond starts
 * its counter at a random value under 2,048; each further id of that millisecond (or of an earlier one, if the clock
 * stepped back) takes the last id's millisecond and its counter plus one, and past 4,095 the next millisecond (so a
 * burst of more than about 2,000 ids in one millisecond stamps them up to a few milliseconds ahead). The other 62
 * bits stay random. Ids of different processes made in the same millisecond still sort either way.
 */
export class IdSequence {
  private lastMs = -1;
  private lastCounter = 0;

  /** The next id, from a fresh `randomUUIDv7()` (its millisecond and random bits). */
  next(fresh: string = randomUUIDv7()): string {
    let ms = parseInt(fresh.slice(0, 8) + fresh.slice(9, 13), 16);
    const start = parseInt(fresh.slice(15, 18), 16) & 0x7ff;
    let counter: number;
    if (ms > this.lastMs) counter = start;
    else {
      ms = this.lastMs;
      counter = this.lastCounter + 1;
      if (counter > 0xfff) {
        ms += 1;
        counter = start;
      }
    }
    this.lastMs = ms;
    this.lastCounter = counter;
    const t = ms.toString(16).padStart(12, '0');
    return `${t.slice(0, 8)}-${t.slice(8)}-7${counter.toString(16).padStart(3, '0')}${fresh.slice(18)}`;
  }
}

const ids = new IdSequence();

/**
 * A new id: a UUIDv7 (RFC 9562; Node ≥ 24.16), the clock's milliseconds in its first 48 bits, then a counter and
 * random bits (IdSequence): ids made later in this process sort later, and ids of a later millisecond sort later in
 * any process. So every index led by an id (a table's primary key, `task_events`' (task_id, seq), authz-proxy's
 * tuples of `task:<id>`) takes new entries at its right-hand edge, on pages already in memory, instead of on a random
 * page each (issue 19), and a listing that ties on `createdAt` keeps one process's creation order. An id says when it
 * was made, to the millisecond, as the resource's `createdAt` already does; it is no secret, and access is decided
 * per request, never by knowing an id.
 */
export function newId(): string {
  return ids.next();
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `<type>:<id>` as used by authz. */
export function resourceRef(type: ResourceType, id: string): string {
  return `${type}:${id}`;
}

export function parseResourceRef(ref: string): { type: string; id: string } | null {
  const i = ref.indexOf(':');
  if (i <= 0 || i === ref.length - 1) return null;
  return { type: ref.slice(0, i), id: ref.slice(i + 1) };
}

/** PostgreSQL's largest bigint: an identity column's ids are 1 to this. */
const MAX_BIGINT = 9_223_372_036_854_775_807n;

/**
 * A bigint identity id given back by a caller (an audit page's cursor), as its decimal text: 1 to PostgreSQL's
 * largest bigint, no sign, no leading zero; null for anything else (a cursor past the range would fail the query's
 * cast, a 500, instead of a VALIDATION).
 */
export function parseBigintId(text: string): string | null {
  if (!/^[1-9][0-9]{0,18}$/.test(text)) return null;
  return BigInt(text) <= MAX_BIGINT ? text : null;
}
