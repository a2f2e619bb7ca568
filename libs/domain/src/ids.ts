import { randomUUID } from 'node:crypto';

export const RESOURCE_TYPES = ['tenant', 'agent', 'task', 'hook', 'release', 'run', 'workspace'] as const;
export type ResourceType = (typeof RESOURCE_TYPES)[number];

export function newId(): string {
  return randomUUID();
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
