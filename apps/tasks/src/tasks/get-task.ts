import { Injectable } from '@nestjs/common';
import { DomainError, type Principal } from '@agentplane/domain';
import type { Task } from '@agentplane/contracts';
import { TasksRepository } from './tasks.repository.js';
import { TaskAccess } from './task-access.js';
import { toTask, type TaskRow } from './task.js';

@Injectable()
export class GetTask {
  constructor(
    private readonly tasks: TasksRepository,
    private readonly access: TaskAccess,
  ) {}

  async execute(principal: Principal, input: { id: string } | { name: string }): Promise<Task> {
    const row = await this.find(principal, input);
    await this.access.requireOnTask(principal, 'read', row);
    return toTask(row);
  }

  /** The row in the caller's tenant, by id or by name; NOT_FOUND otherwise. */
  async find(principal: Principal, input: { id: string } | { name: string }): Promise<TaskRow> {
    const row = 'id' in input ? await this.tasks.findById(principal.tenantId, input.id) : await this.tasks.findByName(principal.tenantId, input.name);
    if (!row) throw new DomainError('NOT_FOUND', 'task not found');
    return row;
  }
}
