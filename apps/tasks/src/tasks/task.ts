import { z } from 'zod';
import { CursorInstant, decodeCursor, encodeCursor, TERMINAL_TASK_STATUSES, Uuid, type Task } from '@agentplane/contracts';
import type { ResponseCodec } from '@agentplane/idempotency';

export interface TaskRow {
  id: string;
  tenantId: string;
  agentId: string;
  name: string;
  status: string;
  params: unknown;
  result: unknown;
  creatorUserId: string | null;
  creatorServiceAccountId: string | null;
  createdAt: Date;
  updatedAt: Date;
  priority: number;
  attempt: number;
  maxAttempts: number;
  runAfter: Date;
  leaseToken: string | null;
  leaseExpiresAt: Date | null;
  workerId: string | null;
  startedAt: Date | null;
  deadlineAt: Date | null;
  finishedAt: Date | null;
  cancelRequestedAt: Date | null;
  progress: unknown;
  error: unknown;
  heartbeatTimeoutSeconds: number;
  timeoutSeconds: number;
  retryInitialIntervalMs: number;
  retryBackoffCoefficient: number;
  retryMaximumIntervalMs: number;
}

/** What a create sets besides identity; absent fields take the column defaults (DESIGN §4.1). */
export interface NewTaskRow {
  id: string;
  tenantId: string;
  agentId: string;
  name: string;
  params: unknown;
  creatorUserId: string | null;
  creatorServiceAccountId: string | null;
  priority: number;
  maxAttempts: number;
  /** When it becomes claimable: its create's time unless later. */
  runAfter: Date;
  heartbeatTimeoutSeconds: number;
  timeoutSeconds: number;
  retryInitialIntervalMs: number;
  retryBackoffCoefficient: number;
  retryMaximumIntervalMs: number;
  /** Set by the create (millisecond precision: the keyset cursor is a JS Date). */
  createdAt: Date;
}

/** The row a create writes from `row`, before the database has it (the response an idempotency key stores with it). */
export function newTaskRowAsWritten(row: NewTaskRow): TaskRow {
  return {
    ...row,
    status: 'pending',
    result: null,
    updatedAt: row.createdAt,
    attempt: 0,
    leaseToken: null,
    leaseExpiresAt: null,
    workerId: null,
    startedAt: null,
    deadlineAt: null,
    finishedAt: null,
    cancelRequestedAt: null,
    progress: null,
    error: null,
  };
}

/**
 * TASK_CREATED_CODEC's fields, in the order of its value (an array): the one list both directions follow. Dates are
 * ISO text in the value. Never reorder or extend it under the same codec name.
 */
const PackedNewTask = z.object({
  id: z.string(),
  tenantId: z.string(),
  agentId: z.string(),
  name: z.string(),
  params: z.unknown(),
  creatorUserId: z.string().nullable(),
  creatorServiceAccountId: z.string().nullable(),
  createdAt: z.iso.datetime(),
  priority: z.number().int(),
  maxAttempts: z.number().int(),
  runAfter: z.iso.datetime(),
  heartbeatTimeoutSeconds: z.number().int(),
  timeoutSeconds: z.number().int(),
  retryInitialIntervalMs: z.number().int(),
  retryBackoffCoefficient: z.number(),
  retryMaximumIntervalMs: z.number().int(),
});
const PACKED_FIELDS = Object.keys(PackedNewTask.shape) as Array<keyof NewTaskRow>;

/**
 * How a keyed create stores its response (issue 19): the NewTaskRow it wrote, as an array of its values, instead of
 * the task's JSON, which was most of the key's row (and of what a key cost a create). `unpack` renders the task as
 * the create answered it (newTaskRowAsWritten, toTask): the same data, whatever the task has become since, or if it
 * is gone. The name is stored with each value; a change of the array is a new name, and a new codec beside this one.
 */
export const TASK_CREATED_CODEC = {
  name: 'tasks.task-created/1',
  pack(r: NewTaskRow): unknown[] {
    return PACKED_FIELDS.map((f) => {
      const v = r[f];
      return v instanceof Date ? v.toISOString() : v;
    });
  },
  unpack(value: unknown): Task {
    if (!Array.isArray(value) || value.length !== PACKED_FIELDS.length) throw new Error(`${TASK_CREATED_CODEC.name}: not an array of ${PACKED_FIELDS.length} values`);
    const row = PackedNewTask.parse(Object.fromEntries(PACKED_FIELDS.map((f, i) => [f, value[i]])));
    return toTask(newTaskRowAsWritten({ ...row, createdAt: new Date(row.createdAt), runAfter: new Date(row.runAfter) }));
  },
} satisfies ResponseCodec & { pack(r: NewTaskRow): unknown[] };

export function isTerminal(status: string): boolean {
  return (TERMINAL_TASK_STATUSES as readonly string[]).includes(status);
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function toTask(row: TaskRow): Task {
  return {
    id: row.id,
    tenantId: row.tenantId,
    agentId: row.agentId,
    name: row.name,
    status: row.status as Task['status'],
    params: (row.params ?? {}) as Record<string, unknown>,
    result: row.result ?? null,
    creatorUserId: row.creatorUserId,
    creatorServiceAccountId: row.creatorServiceAccountId,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    priority: row.priority,
    attempt: row.attempt,
    maxAttempts: row.maxAttempts,
    runAfter: row.runAfter.toISOString(),
    leaseExpiresAt: iso(row.leaseExpiresAt),
    workerId: row.workerId,
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
    cancelRequested: row.cancelRequestedAt !== null,
    progress: row.progress ?? null,
    error: row.error ?? null,
    heartbeatTimeoutSeconds: row.heartbeatTimeoutSeconds,
    timeoutSeconds: row.timeoutSeconds,
    retry: {
      initialIntervalMs: row.retryInitialIntervalMs,
      backoffCoefficient: row.retryBackoffCoefficient,
      maximumIntervalMs: row.retryMaximumIntervalMs,
    },
  };
}

/**
 * The delay before the next attempt after `attempt` failed: exponential, full jitter, capped (DESIGN §4.1), i.e.
 * uniform in [0, min(maximum, initial × coefficient^(attempt-1))]. `random` is injectable for tests.
 */
export function retryDelayMs(row: Pick<TaskRow, 'retryInitialIntervalMs' | 'retryBackoffCoefficient' | 'retryMaximumIntervalMs'>, attempt: number, random = Math.random): number {
  const ceiling = Math.min(row.retryMaximumIntervalMs, row.retryInitialIntervalMs * row.retryBackoffCoefficient ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/** The authz subject that created the row (`user:…` / `service_account:…`), if any. */
export function creatorSubject(row: Pick<TaskRow, 'creatorUserId' | 'creatorServiceAccountId'>): string | undefined {
  if (row.creatorUserId) return `user:${row.creatorUserId}`;
  if (row.creatorServiceAccountId) return `service_account:${row.creatorServiceAccountId}`;
  return undefined;
}

/** The cursor of a tasks page over (created_at DESC, id DESC): its last row's `[createdAt, id]`. */
const TaskCursor = z.tuple([CursorInstant, Uuid]);

export function encodeTaskCursor(row: Pick<TaskRow, 'createdAt' | 'id'>): string {
  return encodeCursor([row.createdAt.toISOString(), row.id]);
}

/** The row a cursor continues after; one no tasks page gave is VALIDATION at `cursor` (decodeCursor). */
export function decodeTaskCursor(cursor: string): { createdAt: Date; id: string } {
  const [createdAt, id] = decodeCursor(cursor, TaskCursor);
  return { createdAt, id };
}
