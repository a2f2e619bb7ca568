import { Injectable } from '@nestjs/common';
import { isDeepStrictEqual } from 'node:util';
import type { RequestOf, Task, tasksContract } from '@agentplane/contracts';
import { DomainError, type Principal } from '@agentplane/domain';
import { TasksRepository } from './tasks.repository.js';
import { TaskAccess } from './task-access.js';
import { leaseLost, TaskAttempts, type StoredError } from './task-attempts.js';
import { toTask } from './task.js';

/**
 * `tasks.v1.fail` (DESIGN §4.1): `execute` on the task; with the current attempt's token the attempt ends — retried
 * after the backoff while attempts remain and the error is retryable, `canceled` if a cancel was requested, else
 * `failed`. The same fail again (same token and error) answers the task as it is; any other token is CONFLICT
 * `lease_lost` and changes nothing.
 */
@Injectable()
export class FailTask {
  constructor(
    private readonly tasks: TasksRepository,
    private readonly access: TaskAccess,
    private readonly attempts: TaskAttempts,
  ) {}

  async execute(principal: Principal, input: RequestOf<typeof tasksContract.fail>): Promise<Task> {
    const error: StoredError = {
      message: input.error.message,
      ...(input.error.type !== undefined ? { type: input.error.type } : {}),
      retryable: input.error.retryable,
      ...(input.error.details !== undefined ? { details: input.error.details } : {}),
    };
    return this.tasks.transaction(async (tx) => {
      const row = await this.tasks.lock(tx, principal.tenantId, input.id);
      if (!row) throw new DomainError('NOT_FOUND', 'task not found');
      // Decided on the locked row, not on a read before the transaction (one round trip fewer: issue 19). Anyone but
      // the task's creator is asked about at authz-proxy meanwhile; only calls for this very task wait on its lock.
      await this.access.requireExecute(principal, row);
      if (row.leaseToken !== input.leaseToken) throw leaseLost();
      if (row.status === 'running') return toTask(await this.attempts.end(tx, row, error));
      // This token's attempt already ended with this very error (ended by this fail, not by the sweeper): the same answer.
      if (row.status !== 'completed' && isDeepStrictEqual(row.error, error)) return toTask(row);
      throw leaseLost();
    });
  }
}
