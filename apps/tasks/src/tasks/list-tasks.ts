import { Injectable } from '@nestjs/common';
import type { Principal } from '@agentplane/domain';
import { itemsWithinBudget, type RequestOf, type Task, type tasksContract } from '@agentplane/contracts';
import { TasksRepository } from './tasks.repository.js';
import { TaskAccess } from './task-access.js';
import { decodeTaskCursor, encodeTaskCursor, toTask, type TaskRow } from './task.js';

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
    let after = input.cursor ? decodeTaskCursor(input.cursor) : null;
    const filter = {
      tenantId: principal.tenantId,
      ...(input.agentId ? { agentId: input.agentId } : {}),
      ...(input.status ? { status: input.status } : {}),
      ...(input.creatorUserId ? { creatorUserId: input.creatorUserId } : {}),
      ...(input.creatorServiceAccountId ? { creatorServiceAccountId: input.creatorServiceAccountId } : {}),
    };
    const items: Task[] = [];
    const kept: TaskRow[] = [];
    let scanned = 0;
    let last: TaskRow | undefined;
    let more = true;
    while (items.length < input.limit && scanned < input.limit * SCAN_FACTOR) {
      const want = input.limit - items.length;
      const rows = await this.tasks.page(filter, after, want + 1);
      const batch = rows.slice(0, want);
      const readable = await Promise.all(batch.map((r) => this.access.canRead(principal, r)));
      batch.forEach((r, i) => readable[i] && (items.push(toTask(r)), kept.push(r)));
      scanned += batch.length;
      last = batch[batch.length - 1] ?? last;
      after = last ? { createdAt: last.createdAt, id: last.id } : after;
      if (rows.length <= want) {
        more = false;
        break;
      }
    }
    // a page of big tasks (params, results) answers fewer, to fit one message; the cursor goes on after the last
    const fit = itemsWithinBudget(items);
    const lastFitting = kept[fit - 1];
    if (fit < items.length && lastFitting) return { items: items.slice(0, fit), nextCursor: encodeTaskCursor(lastFitting) };
    return { items, nextCursor: more && last ? encodeTaskCursor(last) : null };
  }
}
