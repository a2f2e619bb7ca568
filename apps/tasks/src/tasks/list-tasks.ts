import { Injectable } from '@nestjs/common';
import { DomainError, type Principal } from '@agentplane/domain';
import type { RequestOf, Task, tasksContract } from '@agentplane/contracts';
import { TasksRepository } from './tasks.repository.js';
import { TaskAccess } from './task-access.js';
import { decodeCursor, encodeCursor, toTask, type TaskRow } from './task.js';

/** At most this many rows are examined per call; past it the page ends early with a cursor (never a silent cut). */
const SCAN_FACTOR = 5;

/**
 * Lists the caller's readable tasks, newest first, with keyset pagination over (created_at, id). Rows come from this
 * service's database filtered by tenant and the given filters; each is kept only if the caller may read it. A page
 * may hold fewer than `limit` items while `nextCursor` is set: the cursor continues exactly after the last row examined.
 */
@Injectable()
export class ListTasks {
  constructor(
    private readonly tasks: TasksRepository,
    private readonly access: TaskAccess,
  ) {}

  async execute(principal: Principal, input: RequestOf<typeof tasksContract.list>): Promise<{ items: Task[]; nextCursor: string | null }> {
    let after = input.cursor ? decodeCursor(input.cursor) : null;
    if (input.cursor && !after) throw new DomainError('VALIDATION', 'cursor is not valid', { issues: [{ path: 'cursor', message: 'invalid cursor' }] });
    const filter = {
      tenantId: principal.tenantId,
      ...(input.agentId ? { agentId: input.agentId } : {}),
      ...(input.status ? { status: input.status } : {}),
      ...(input.creatorUserId ? { creatorUserId: input.creatorUserId } : {}),
      ...(input.creatorServiceAccountId ? { creatorServiceAccountId: input.creatorServiceAccountId } : {}),
    };
    const items: Task[] = [];
    let scanned = 0;
    let last: TaskRow | undefined;
    while (items.length < input.limit && scanned < input.limit * SCAN_FACTOR) {
      const want = input.limit - items.length;
      const rows = await this.tasks.page(filter, after, want + 1);
      if (rows.length === 0) return { items, nextCursor: null };
      const batch = rows.slice(0, want);
      const readable = await Promise.all(batch.map((r) => this.access.canRead(principal, r)));
      batch.forEach((r, i) => readable[i] && items.push(toTask(r)));
      scanned += batch.length;
      last = batch[batch.length - 1];
      after = last ? { createdAt: last.createdAt, id: last.id } : after;
      if (rows.length <= want) return { items, nextCursor: null };
    }
    return { items, nextCursor: last ? encodeCursor(last) : null };
  }
}
