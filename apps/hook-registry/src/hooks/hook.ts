import type { Convention, Hook, LiveChange, Output, Release, Run } from '@agentplane/contracts';

// Row shapes the repository returns (camelCase), and their contract views.

export interface HookRow {
  id: string;
  tenantId: string;
  name: string;
  feature: string;
  liveReleaseId: string;
  createdBy: string;
  createdAt: Date;
}

export interface ReleaseRow {
  id: string;
  hookId: string;
  version: number;
  image: string;
  digest: string;
  config: unknown;
  sourceRef: string | null;
  builtBy: string;
  builtAt: Date;
}

export interface RunRow {
  id: string;
  tenantId: string;
  hookId: string;
  releaseId: string;
  status: string;
  startedBy: string;
  startedAt: Date;
  finishedAt: Date | null;
  durationMs: bigint | number | null;
  oomRetries: number;
}

export interface LiveChangeRow {
  id: string;
  fromVersion: number | null;
  toVersion: number;
  reason: string;
  changedBy: string;
  changedAt: Date;
  /** `changed_at` as `toISOString()` text with microseconds (`….000700Z`): the list's cursor. */
  changedAtText: string;
}

export interface ConventionRow {
  id: string;
  tenantId: string;
  slug: string;
  schema: unknown;
  hookNames: string[];
  updatedBy: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface OutputRow {
  id: string;
  runId: string;
  payload: unknown;
  createdAt: Date;
}

const asObject = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

export function toHook(row: HookRow, liveVersion: number): Hook {
  return {
    id: row.id,
    tenantId: row.tenantId,
    name: row.name,
    feature: row.feature,
    liveVersion,
    liveReleaseId: row.liveReleaseId,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
  };
}

export function toRelease(row: ReleaseRow, hookName: string): Release {
  return {
    id: row.id,
    hookId: row.hookId,
    hookName,
    version: row.version,
    image: row.image,
    digest: row.digest,
    config: asObject(row.config),
    sourceRef: row.sourceRef,
    builtBy: row.builtBy,
    builtAt: row.builtAt.toISOString(),
  };
}

export function toRun(row: RunRow, hookName: string, version: number): Run {
  return {
    id: row.id,
    hookId: row.hookId,
    hookName,
    releaseId: row.releaseId,
    version,
    status: row.status as Run['status'],
    startedBy: row.startedBy,
    startedAt: row.startedAt.toISOString(),
    finishedAt: row.finishedAt?.toISOString() ?? null,
    durationMs: row.durationMs === null ? null : Number(row.durationMs),
    oomRetries: row.oomRetries,
  };
}

export function toLiveChange(row: LiveChangeRow, hookName: string): LiveChange {
  return {
    id: row.id,
    hookName,
    fromVersion: row.fromVersion,
    toVersion: row.toVersion,
    reason: row.reason as LiveChange['reason'],
    changedBy: row.changedBy,
    changedAt: row.changedAt.toISOString(),
  };
}

export function toConvention(row: ConventionRow): Convention {
  return {
    id: row.id,
    tenantId: row.tenantId,
    slug: row.slug,
    schema: asObject(row.schema),
    hookNames: row.hookNames,
    updatedBy: row.updatedBy,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export function toOutput(row: OutputRow): Output {
  return { id: row.id, runId: row.runId, payload: asObject(row.payload), createdAt: row.createdAt.toISOString() };
}

/** Stable JSON (sorted keys) to compare stored jsonb with a request's object. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}
