import { Injectable } from '@nestjs/common';
import type { Principal } from '@agentplane/domain';
import { itemsWithinBudget, type ReplyOf, type RequestOf, type TaskEventType, type tasksContract } from '@agentplane/contracts';
import { TasksRepository } from './tasks.repository.js';
import { TaskAccess } from './task-access.js';
import { longPollDeadline, TaskWakeups } from './task-wakeups.js';
import { GetTask, gone } from './get-task.js';
import { isTerminal, type TaskRow } from './task.js';

/**
 * A task's history (`read`), oldest first, in pages after a sequence number. With `waitMs`, a page that would be
 * empty waits for the task's next event (a notification at its commit), holding no database connection meanwhile.
 */
@Injectable()
export class ListTaskEvents {
  constructor(
    private readonly tasks: TasksRepository,
    private readonly access: TaskAccess,
    private readonly get: GetTask,
    private readonly wakeups: TaskWakeups,
  ) {}

  async execute(principal: Principal, input: RequestOf<typeof tasksContract.listEvents>): Promise<ReplyOf<typeof tasksContract.listEvents>> {
    const row = await this.get.find(principal, input);
    await this.access.requireOnTask(principal, 'read', row);
    const waitMs = input.waitMs ?? 0;
    if (waitMs <= 0) return this.page(row, input);
    const deadline = longPollDeadline(waitMs);
    const watch = this.wakeups.watch(`t:${row.id}`);
    try {
      for (let current = row; ; ) {
        const page = await this.page(current, input);
        const left = deadline - Date.now();
        if (page.items.length > 0 || isTerminal(page.status) || left <= 0 || this.wakeups.isStopping) return page;
        await watch.wait(Math.min(left, this.wakeups.recheckMs));
        // a grant revoked while it waited ends the wait
        await this.access.requireOnTask(principal, 'read', row);
        current = (await this.tasks.findById(principal.tenantId, row.id)) ?? gone();
      }
    } finally {
      watch.close();
    }
  }

  private async page(row: TaskRow, input: { after: number; limit: number }): Promise<ReplyOf<typeof tasksContract.listEvents>> {
    const rows = await this.tasks.events(row.id, input.after, input.limit + 1);
    const all = rows.slice(0, input.limit).map((e) => ({ taskId: e.taskId, seq: e.seq, type: e.type as TaskEventType, at: e.at.toISOString(), data: e.data }));
    // events that carry big results or progress answer fewer, to fit one message; the next page starts after them
    const items = all.slice(0, itemsWithinBudget(all));
    const more = rows.length > input.limit || items.length < all.length;
    return { items, nextAfter: more ? (items.at(-1)?.seq ?? null) : null, status: row.status as ReplyOf<typeof tasksContract.listEvents>['status'] };
  }
}
