import { TERMINAL_TASK_STATUSES, type Task } from '@agentplane/contracts';

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
}

export function isTerminal(status: string): boolean {
  return (TERMINAL_TASK_STATUSES as readonly string[]).includes(status);
}

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
  };
}

/** The authz subject that created the row (`user:…` / `service_account:…`), if any. */
export function creatorSubject(row: Pick<TaskRow, 'creatorUserId' | 'creatorServiceAccountId'>): string | undefined {
  if (row.creatorUserId) return `user:${row.creatorUserId}`;
  if (row.creatorServiceAccountId) return `service_account:${row.creatorServiceAccountId}`;
  return undefined;
}

/** Keyset cursor over (created_at DESC, id DESC): opaque base64url of both. */
export function encodeCursor(row: Pick<TaskRow, 'createdAt' | 'id'>): string {
  return Buffer.from(JSON.stringify([row.createdAt.toISOString(), row.id])).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: Date; id: string } | null {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    const createdAt = new Date(at);
    if (typeof id !== 'string' || Number.isNaN(createdAt.getTime()) || !/^[0-9a-f-]{36}$/i.test(id)) return null;
    return { createdAt, id };
  } catch {
    return null;
  }
}
