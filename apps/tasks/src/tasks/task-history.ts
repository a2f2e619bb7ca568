import { Injectable } from '@nestjs/common';
import { tasksEvents, type TaskEventType } from '@agentplane/contracts';
import { writeOutboxEvent } from '@agentplane/messaging';
import { currentRequestContext } from '@agentplane/auth';
import { TasksRepository, type Tx } from './tasks.repository.js';
import type { TaskRow } from './task.js';

/**
 * The history of a task (DESIGN §4.1): each transition appends to task_events and writes `events.tasks.task_updated`
 * to the outbox, both in the transition's own transaction, so the history, the event and the change commit together;
 * watchers of the task are notified at that commit.
 */
@Injectable()
export class TaskHistory {
  constructor(private readonly tasks: TasksRepository) {}

  async record(tx: Tx, row: TaskRow, type: TaskEventType, data: Record<string, unknown> = {}): Promise<void> {
    const { seq, at } = await this.tasks.appendEvent(tx, row.id, type, data);
    const requestId = currentRequestContext()?.requestId;
    await writeOutboxEvent(
      tx,
      tasksEvents.taskUpdated,
      {
        taskId: row.id,
        tenantId: row.tenantId,
        agentId: row.agentId,
        seq,
        type,
        at: at.toISOString(),
        status: row.status as 'pending',
        attempt: row.attempt,
        data,
      },
      { headers: requestId ? { 'x-request-id': requestId } : {} },
    );
    // Wakes whoever watches this task (GET ?waitMs, event long-polls and streams) at commit; nobody can watch a task
    // before its create commits.
    if (type !== 'created') await this.tasks.notify(tx, `t:${row.id}`);
  }
}
