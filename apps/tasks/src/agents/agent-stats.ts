import { Injectable } from '@nestjs/common';
import type { Principal } from '@agentplane/domain';
import type { ReplyOf, tasksContract } from '@agentplane/contracts';
import { TasksRepository } from '../tasks/tasks.repository.js';
import { TaskAccess } from '../tasks/task-access.js';

/** Queue depth of an agent per status and its oldest pending task (`read` on the agent). */
@Injectable()
export class AgentStats {
  constructor(
    private readonly tasks: TasksRepository,
    private readonly access: TaskAccess,
  ) {}

  async execute(principal: Principal, input: { id: string }): Promise<ReplyOf<typeof tasksContract.agentStats>> {
    await this.access.require(principal, 'read', input.id);
    const { counts, oldestPendingAt } = await this.tasks.stats(input.id);
    return {
      pending: counts.pending ?? 0,
      running: counts.running ?? 0,
      completed: counts.completed ?? 0,
      failed: counts.failed ?? 0,
      canceled: counts.canceled ?? 0,
      oldestPendingAt: oldestPendingAt ? oldestPendingAt.toISOString() : null,
    };
  }
}
