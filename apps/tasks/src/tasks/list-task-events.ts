import { Injectable } from '@nestjs/common';
import type { Principal } from '@agentplane/domain';
import type { ReplyOf, RequestOf, TaskEventType, tasksContract } from '@agentplane/contracts';
import { TasksRepository } from './tasks.repository.js';
import { TaskAccess } from './task-access.js';
import { GetTask } from './get-task.js';

/** A task's history (`read`), oldest first, in pages after a sequence number. */
@Injectable()
export class ListTaskEvents {
  constructor(
    private readonly tasks: TasksRepository,
    private readonly access: TaskAccess,
    private readonly get: GetTask,
  ) {}

  async execute(principal: Principal, input: RequestOf<typeof tasksContract.listEvents>): Promise<ReplyOf<typeof tasksContract.listEvents>> {
    const row = await this.get.find(principal, input);
    await this.access.requireOnTask(principal, 'read', row);
    const rows = await this.tasks.events(row.id, input.after, input.limit + 1);
    const items = rows.slice(0, input.limit).map((e) => ({ taskId: e.taskId, seq: e.seq, type: e.type as TaskEventType, at: e.at.toISOString(), data: e.data }));
    return { items, nextAfter: rows.length > input.limit ? items[items.length - 1]!.seq : null };
  }
}
