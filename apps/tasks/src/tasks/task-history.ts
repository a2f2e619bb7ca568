import { Injectable } from '@nestjs/common';
import { tasksEvents, type TaskEventType, type TaskUpdateType } from '@agentplane/contracts';
import { outboxEventRow, type OutboxRow } from '@agentplane/messaging';
import { currentRequestContext } from '@agentplane/auth';
import { TasksRepository, type RecordExtras, type Tx } from './tasks.repository.js';
import type { TaskRow } from './task.js';

/** Stands in for the event's seq and time while its payload is checked; the statement writes the real ones. */
const PENDING_AT = new Date(0).toISOString();

/**
 * The history of a task (DESIGN §4.1): each transition appends to task_events and writes `events.tasks.task_updated`
 * to the outbox, both in the transition's own transaction, so the history, the event and the change commit together;
 * watchers of the task are notified at that commit. One statement does all of it, with whatever else the transition
 * writes beside (`extras`: more outbox rows, wake-ups).
 */
@Injectable()
export class TaskHistory {
  constructor(private readonly tasks: TasksRepository) {}

  async record(tx: Tx, row: TaskRow, type: TaskEventType, data: Record<string, unknown> = {}, extras: RecordExtras = {}): Promise<{ seq: number; at: Date }> {
    const updated = this.updatedEvent(row, type, data);
    // Wakes whoever watches this task (GET ?waitMs, event long-polls and streams) at commit; nobody can watch a task
    // before its create commits.
    const notify = type === 'created' ? (extras.notify ?? []) : [`t:${row.id}`, ...(extras.notify ?? [])];
    return this.tasks.record(tx, row.id, type, data, updated, { ...extras, notify });
  }

  /** The headers of the current request's events (its request id). */
  eventHeaders(): Record<string, string> {
    const requestId = currentRequestContext()?.requestId;
    return requestId ? { 'x-request-id': requestId } : {};
  }

  /**
   * The `events.tasks.task_updated` outbox row of a transition that leaves the task as `row` (or of its deletion), its
   * payload checked against the contract; the statement that writes it fills in the event's seq and time.
   */
  updatedEvent(row: TaskRow, type: TaskUpdateType, data: Record<string, unknown>): OutboxRow {
    return outboxEventRow(
      tasksEvents.taskUpdated,
      {
        taskId: row.id,
        tenantId: row.tenantId,
        agentId: row.agentId,
        seq: 1,
        type,
        at: PENDING_AT,
        status: row.status as 'pending',
        attempt: row.attempt,
        data,
      },
      { headers: this.eventHeaders() },
    );
  }
}
