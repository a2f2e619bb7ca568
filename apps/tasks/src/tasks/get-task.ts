import { Injectable } from '@nestjs/common';
import { DomainError, type Principal } from '@agentplane/domain';
import type { Task } from '@agentplane/contracts';
import { TasksRepository } from './tasks.repository.js';
import { TaskAccess } from './task-access.js';
import { longPollDeadline, TaskWakeups } from './task-wakeups.js';
import { isTerminal, toTask, type TaskRow } from './task.js';

/** A task deleted while a long-poll waited on it: answered as any missing task, at once, never as its old row. */
export const gone = (): never => {
  throw new DomainError('NOT_FOUND', 'task not found');
};

@Injectable()
export class GetTask {
  constructor(
    private readonly tasks: TasksRepository,
    private readonly access: TaskAccess,
    private readonly wakeups: TaskWakeups,
  ) {}

  /** With `waitMs`, answers once the task is terminal or the wait is over (DESIGN §4.1), holding no connection while it waits. */
  async execute(principal: Principal, input: { id: string; waitMs?: number } | { name: string }): Promise<Task> {
    let row = await this.find(principal, input);
    await this.access.requireOnTask(principal, 'read', row);
    const waitMs = 'waitMs' in input ? (input.waitMs ?? 0) : 0;
    if (waitMs <= 0 || isTerminal(row.status)) return toTask(row);
    const deadline = longPollDeadline(waitMs);
    const watch = this.wakeups.watch(`t:${row.id}`);
    try {
      for (;;) {
        // Reread after watching: an end committed before the watch began is seen here, and so is a delete.
        row = (await this.tasks.findById(principal.tenantId, row.id)) ?? gone();
        const left = deadline - Date.now();
        if (isTerminal(row.status) || left <= 0 || this.wakeups.isStopping) return toTask(row);
        await watch.wait(Math.min(left, this.wakeups.recheckMs));
        // a grant revoked while it waited ends the wait (its creator and id, all the check reads, never change)
        await this.access.requireOnTask(principal, 'read', row);
      }
    } finally {
      watch.close();
    }
  }

  /** The row in the caller's tenant, by id or by name; NOT_FOUND otherwise. */
  async find(principal: Principal, input: { id: string } | { name: string }): Promise<TaskRow> {
    const row = 'id' in input ? await this.tasks.findById(principal.tenantId, input.id) : await this.tasks.findByName(principal.tenantId, input.name);
    if (!row) throw new DomainError('NOT_FOUND', 'task not found');
    return row;
  }
}
