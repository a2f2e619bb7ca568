import { randomUUIDv7 } from 'node:crypto';

export const RESOURCE_TYPES = ['tenant', 'agent', 'task', 'hook', 'release', 'run', 'workspace'] as const;
export type ResourceType = (typeof RESOURCE_TYPES)[number];

/**
 * A new id: a UUIDv7 (RFC 9562; Node ≥ 24.16), the clock's milliseconds in its first 48 bits and 74 random bits
 * after them. Ids made later sort later, so every index led by an id (a table's primary key, `task_events`'
 * (task_id, seq), authz-proxy's tuples of `task:<id>`) takes new entries at its right-hand edge, on pages already in
 * memory, instead of on a random page each (issue 19). An id says when it was made, to the millisecond, as the
 * resource's `createdAt` already does; it is no secret, and access is decided per request, never by knowing an id.
 */
export function newId(): string {
  return randomUUIDv7();
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
