import { Injectable } from '@nestjs/common';
import { isDeepStrictEqual } from 'node:util';
import type { RequestOf, Task, tasksContract } from '@agentplane/contracts';
import { DomainError, type Principal } from '@agentplane/domain';
import { DB_NOW, TasksRepository } from './tasks.repository.js';
import { TaskAccess } from './task-access.js';
import { TaskHistory } from './task-history.js';
import { TaskMetrics } from './task-metrics.js';
import { leaseLost, TaskAttempts } from './task-attempts.js';
import { toTask } from './task.js';

/**
 * `tasks.v1.complete` (DESIGN §4.1): `execute` on the task; with the current attempt's token the task is `completed`
 * with its result, even if a cancel was requested (the work was done). The same complete again (same token and
 * result) answers the same task; any other token is CONFLICT `lease_lost` and changes nothing.
 */
@Injectable()
export class CompleteTask {
  constructor(
    private readonly tasks: TasksRepository,
    private readonly access: TaskAccess,
    private readonly history: TaskHistory,
    private readonly attempts: TaskAttempts,
    private readonly metrics: TaskMetrics,
  ) {}

  async execute(principal: Principal, input: RequestOf<typeof tasksContract.complete>): Promise<Task> {
    const result = input.result ?? null;
    // The common case, a running attempt completed by its worker, in one statement after a plain read (issue 19): the
    // statement itself rechecks the token and status on the row it locks. Anything else (not found, another token, a
    // repeated complete, a history that moved meanwhile) is decided in the transaction below, on the locked row.
    const seen = await this.tasks.findById(principal.tenantId, input.id);
    if (seen && seen.status === 'running' && seen.leaseToken === input.leaseToken) {
      await this.access.requireExecute(principal, seen);
      const data = { attempt: seen.attempt, workerId: seen.workerId };
      const expected = { ...seen, status: 'completed', result, leaseExpiresAt: null };
      const done = await this.tasks.completeFused(
        { tenantId: principal.tenantId, id: seen.id, leaseToken: input.leaseToken, result, data },
        this.history.updatedEvent(expected, 'completed', data),
      );
      if (done) {
        this.metrics.attemptEnded('completed');
        return toTask(done);
      }
    }
    return this.tasks.transaction(async (tx) => {
      const row = await this.tasks.lock(tx, principal.tenantId, input.id);
      if (!row) throw new DomainError('NOT_FOUND', 'task not found');
      // Decided on the locked row, not on a read before the transaction (one round trip fewer: issue 19). Anyone but
      // the task's creator is asked about at authz-proxy meanwhile; only calls for this very task wait on its lock.
      await this.access.requireExecute(principal, row);
      if (row.leaseToken !== input.leaseToken) throw leaseLost();
      if (row.status === 'completed' && isDeepStrictEqual(row.result ?? null, result)) return toTask(row);
      if (row.status !== 'running') throw leaseLost();
      const done = await this.tasks.setState(tx, row.id, { ...this.attempts.kept(row), status: 'completed', result, leaseExpiresAt: null, finishedAt: DB_NOW });
      await this.history.record(tx, done, 'completed', { attempt: row.attempt, workerId: row.workerId }, { slotFreedAgentId: row.agentId });
      this.metrics.attemptEnded('completed');
      return toTask(done);
    });
  }
}
