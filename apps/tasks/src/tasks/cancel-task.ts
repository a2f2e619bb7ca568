import { Injectable } from '@nestjs/common';
import { DomainError, type Principal } from '@agentplane/domain';
import type { Task } from '@agentplane/contracts';
import { Idempotency } from '@agentplane/idempotency';
import { TasksRepository } from './tasks.repository.js';
import { TaskAccess } from './task-access.js';
import { GetTask } from './get-task.js';
import { isTerminal, toTask } from './task.js';

/** `cancel` on the task (403 if readable but not cancellable); 409 when it is already terminal. */
@Injectable()
export class CancelTask {
  constructor(
    private readonly tasks: TasksRepository,
    private readonly access: TaskAccess,
    private readonly get: GetTask,
    private readonly idempotency: Idempotency,
  ) {}

  async execute(principal: Principal, input: { id: string }): Promise<Task> {
    const row = await this.get.find(principal, input);
    await this.access.requireOnTask(principal, 'cancel', row);
    if (isTerminal(row.status)) throw new DomainError('CONFLICT', `task is already ${row.status}`, { status: row.status });
    return this.tasks.transaction(async (tx) => {
      const canceled = await this.tasks.cancel(tx, principal.tenantId, row.id);
      if (!canceled) throw new DomainError('CONFLICT', 'task is already terminal');
      const task = toTask(canceled);
      await this.idempotency.completeWithin(tx, task);
      return task;
    });
  }
}
