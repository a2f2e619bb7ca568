import { Injectable } from '@nestjs/common';
import { DomainError } from '@agentplane/domain';
import { DB_NOW, TasksRepository, type TaskState, type Tx } from './tasks.repository.js';
import { TaskHistory } from './task-history.js';
import { TaskMetrics } from './task-metrics.js';
import { retryDelayMs, type TaskRow } from './task.js';

/** A failure as stored on the task (`error`): the worker's, or the sweeper's with `source: "sweeper"`. */
export interface StoredError {
  message: string;
  type?: string;
  retryable: boolean;
  details?: Record<string, unknown>;
  source?: 'sweeper';
}

/** The answer to a call whose lease token is not the current attempt's: nothing was changed. */
export function leaseLost(): DomainError {
  return new DomainError('CONFLICT', 'the lease of this attempt is lost (expired, ended, or another attempt holds the task)', { reason: 'lease_lost' });
}

/**
 * How an attempt ends (DESIGN §4.1), shared by fail and the sweeper on a row locked in `tx`: cancel requested →
 * `canceled`; retryable with attempts left → back to `pending` after the retry delay; otherwise `failed`. Each
 * appends its events and wakes long-polls (a retry makes the task claimable again; an end finishes a watched task).
 */
@Injectable()
export class TaskAttempts {
  constructor(
    private readonly tasks: TasksRepository,
    private readonly history: TaskHistory,
    private readonly metrics: TaskMetrics,
  ) {}

  async end(tx: Tx, row: TaskRow, error: StoredError): Promise<TaskRow> {
    const attempt = { attempt: row.attempt, workerId: row.workerId, error };
    // The attempt ends whatever comes next: a capped agent's blocked claims may go on.
    const slotFreedAgentId = row.agentId;
    if (row.cancelRequestedAt) {
      const ended = await this.tasks.setState(tx, row.id, { ...this.kept(row), status: 'canceled', error, leaseExpiresAt: null, finishedAt: DB_NOW });
      await this.history.record(tx, ended, 'canceled', attempt, { slotFreedAgentId });
      this.metrics.attemptEnded('canceled');
      return ended;
    }
    if (error.retryable && row.attempt < row.maxAttempts) {
      const delayMs = retryDelayMs(row, row.attempt);
      const pending = await this.tasks.setState(tx, row.id, { ...this.kept(row), status: 'pending', error, leaseExpiresAt: null, runAfter: { inMs: delayMs } });
      const { runAfter } = pending;
      // Claimable once its backoff is over: long-polls wake then, not now.
      await this.history.record(tx, pending, 'retry_scheduled', { ...attempt, delayMs, runAfter: runAfter.toISOString() }, {
        slotFreedAgentId,
        notify: [`a:${row.agentId}@${runAfter.getTime()}`],
      });
      this.metrics.attemptEnded('retried');
      return pending;
    }
    const failed = await this.tasks.setState(tx, row.id, { ...this.kept(row), status: 'failed', error, leaseExpiresAt: null, finishedAt: DB_NOW });
    await this.history.record(tx, failed, 'failed', attempt, { slotFreedAgentId });
    this.metrics.attemptEnded('failed');
    return failed;
  }

  /** The state fields a transition leaves as they are unless it says otherwise. */
  kept(row: TaskRow): TaskState {
    return {
      status: row.status,
      result: row.result,
      progress: row.progress,
      error: row.error,
      runAfter: row.runAfter,
      leaseExpiresAt: row.leaseExpiresAt,
      finishedAt: row.finishedAt,
      cancelRequestedAt: row.cancelRequestedAt,
    };
  }
}
