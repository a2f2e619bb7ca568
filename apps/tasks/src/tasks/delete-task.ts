import { Injectable } from '@nestjs/common';
import { DomainError, resourceRef, subjectOf, type Principal } from '@agentplane/domain';
import { Idempotency } from '@agentplane/idempotency';
import { TasksRepository } from './tasks.repository.js';
import { TaskAccess } from './task-access.js';
import { AuthzRegistration } from '../authz-registration.js';
import { GetTask } from './get-task.js';
import { TaskHistory } from './task-history.js';

/**
 * `delete` on the task. By name, the id is resolved first, so the deregistration that follows names the resource.
 * The row, its history, its last `task_updated` event (`deleted`, `data.by` the caller: the record of who deleted it
 * outlives it on the events stream) and its `resource_deregistered` event go in one transaction.
 */
@Injectable()
export class DeleteTask {
  constructor(
    private readonly tasks: TasksRepository,
    private readonly access: TaskAccess,
    private readonly get: GetTask,
    private readonly registration: AuthzRegistration,
    private readonly idempotency: Idempotency,
    private readonly history: TaskHistory,
  ) {}

  async execute(principal: Principal, input: { id: string } | { name: string }): Promise<null> {
    const row = await this.get.find(principal, input);
    await this.access.requireOnTask(principal, 'delete', row);
    const resource = resourceRef('task', row.id);
    await this.tasks.transaction(async (tx) => {
      // The row first, locked: a transition committed meanwhile (a complete racing the delete) is then in the delete
      // statement's snapshot, so the deleted event's seq and state come after it. In the one statement, its CTEs would
      // read the snapshot from before the lock wait, and the event repeat the complete's seq.
      const locked = await this.tasks.lock(tx, principal.tenantId, row.id);
      if (!locked) throw new DomainError('NOT_FOUND', 'task not found');
      const deleted = this.history.updatedEvent(locked, 'deleted', { by: subjectOf(principal) });
      if (!(await this.tasks.delete(tx, principal.tenantId, row.id, deleted))) throw new DomainError('NOT_FOUND', 'task not found');
      await this.registration.enqueueDeregister(tx, resource);
      await this.idempotency.completeWithin(tx, null);
    });
    await this.registration.deregisterNow(resource);
    return null;
  }
}
