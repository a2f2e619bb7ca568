import { Injectable } from '@nestjs/common';
import { DomainError, subjectOf, type Principal } from '@agentplane/domain';
import type { Task } from '@agentplane/contracts';
import { Idempotency } from '@agentplane/idempotency';
import { DB_NOW, TasksRepository } from './tasks.repository.js';
import { TaskAccess } from './task-access.js';
import { TaskHistory } from './task-history.js';
import { TaskAttempts } from './task-attempts.js';
import { GetTask } from './get-task.js';
import { isTerminal, toTask } from './task.js';

/**
 * `cancel` on the task (403 if readable but not cancellable); 409 when it is already terminal. A pending task (also
 * one waiting out a retry's backoff) is canceled at once; a running one gets `cancelRequested` and stays running: its
 * worker learns it from the next heartbeat, and its fail or lease expiry then ends it `canceled` (a complete still wins).
 * The `canceled` or `cancel_requested` event names the caller (`by`).
 */
@Injectable()
export class CancelTask {
  constructor(
    private readonly tasks: TasksRepository,
    private readonly access: TaskAccess,
    private readonly get: GetTask,
    private readonly history: TaskHistory,
    private readonly attempts: TaskAttempts,
    private readonly idempotency: Idempotency,
  ) {}

  async execute(principal: Principal, input: { id: string }): Promise<Task> {
    const found = await this.get.find(principal, input);
    await this.access.requireOnTask(principal, 'cancel', found);
    if (isTerminal(found.status)) throw new DomainError('CONFLICT', `task is already ${found.status}`, { status: found.status });
    // the history says who asked (`user:<id>` or `service_account:<id>`): the audit of a cancel, as of a create's creator
    const by = subjectOf(principal);
    return this.tasks.transaction(async (tx) => {
      const row = await this.tasks.lock(tx, principal.tenantId, found.id);
      if (!row) throw new DomainError('NOT_FOUND', 'task not found');
      if (isTerminal(row.status)) throw new DomainError('CONFLICT', `task is already ${row.status}`, { status: row.status });
      let task;
      if (row.status === 'running') {
        if (row.cancelRequestedAt) task = toTask(row);
        else {
          const requested = await this.tasks.setState(tx, row.id, { ...this.attempts.kept(row), cancelRequestedAt: DB_NOW });
          await this.history.record(tx, requested, 'cancel_requested', { attempt: row.attempt, by });
          task = toTask(requested);
        }
      } else {
        const canceled = await this.tasks.setState(tx, row.id, { ...this.attempts.kept(row), status: 'canceled', leaseExpiresAt: null, finishedAt: DB_NOW });
        await this.history.record(tx, canceled, 'canceled', { attempt: row.attempt, by });
        task = toTask(canceled);
      }
      await this.idempotency.completeWithin(tx, task);
      return task;
    });
  }
}
