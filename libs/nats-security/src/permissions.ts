import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One identity's subject permissions as committed in docker/nats/permissions.json (placeholders unexpanded). */
export interface PermissionEntry {
  publish: string[];
  subscribe: string[];
  allow_responses: boolean;
}

export interface PermissionTable {
  identities: Record<string, PermissionEntry>;
  /** The template every internal caller's identity gets. */
  caller: PermissionEntry;
}

/** The committed permission table (DESIGN §2.1): the one file the stack, the tests, CI and compose render. */
export const PERMISSIONS_FILE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docker', 'nats', 'permissions.json');

/** The identities of the platform's own processes (callers are added on demand). */
export const SERVICE_IDENTITIES = ['tasks', 'hook-registry', 'workspace-installer', 'authz-proxy', 'gateway', 'ops'] as const;

const IDENTITY_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function assertIdentityName(name: string): string {
  if (!IDENTITY_NAME.test(name)) throw new Error(`a NATS identity name must match ${IDENTITY_NAME}: got "${name}"`);
  return name;
}

/** Where an identity receives replies: `_INBOX_<identity>`; its permissions let it subscribe there and nowhere else. */
export function inboxPrefixOf(identity: string): string {
  return `_INBOX_${assertIdentityName(identity)}`;
}

function entry(raw: unknown, where: string): PermissionEntry {
  const e = raw as Partial<PermissionEntry> | undefined;
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
  if (!e || !strings(e.publish) || !strings(e.subscribe) || typeof e.allow_responses !== 'boolean') {
    throw new Error(`${where}: needs publish[], subscribe[] and allow_responses`);
  }
  return { publish: e.publish, subscribe: e.subscribe, allow_responses: e.allow_responses };
}

export function loadPermissionTable(file = PERMISSIONS_FILE): PermissionTable {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as { identities?: Record<string, unknown>; caller?: unknown };
  const identities: Record<string, PermissionEntry> = {};
  for (const [name, e] of Object.entries(raw.identities ?? {})) identities[assertIdentityName(name)] = entry(e, `${file}: identities.${name}`);
  for (const name of SERVICE_IDENTITIES) if (!identities[name]) throw new Error(`${file}: identity "${name}" is missing`);
  return { identities, caller: entry(raw.caller, `${file}: caller`) };
}

export interface ExpandOptions {
  /**
   * The subject prefix the processes run under: '' in production and for a stack that owns its NATS. Test runs that
   * share one server across files pass '*.' (each file has its own prefix), which also widens `{stream}` to `*`.
   */
  prefix: string;
}

/** The entry with its placeholders filled for one identity. */
export function expandEntry(e: PermissionEntry, identity: string, opts: ExpandOptions): PermissionEntry {
  const stream = opts.prefix === '' ? 'EVENTS' : opts.prefix === '*.' ? '*' : `${opts.prefix.replace(/\./g, '_')}EVENTS`;
  const fill = (s: string) => s.replaceAll('{p}', opts.prefix).replaceAll('{stream}', stream).replaceAll('{inbox}', inboxPrefixOf(identity));
  return { publish: e.publish.map(fill), subscribe: e.subscribe.map(fill), allow_responses: e.allow_responses };
}

/** The permissions of a named identity: its own entry, else (a caller) the caller template. */
export function permissionsOf(table: PermissionTable, identity: string, opts: ExpandOptions): PermissionEntry {
  // its own entry only (a caller named `constructor` is a caller, not Object's prototype)
  return expandEntry((Object.hasOwn(table.identities, identity) ? table.identities[identity] : undefined) ?? table.caller, identity, opts);
}
