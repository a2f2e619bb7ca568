import { Injectable } from '@nestjs/common';
import { isDeepStrictEqual } from 'node:util';
import type { ReplyOf, RequestOf, tasksContract } from '@agentplane/contracts';
import { DomainError, type Principal } from '@agentplane/domain';
import { TasksRepository } from './tasks.repository.js';
import { TaskAccess } from './task-access.js';
import { TaskHistory } from './task-history.js';
import { leaseLost } from './task-attempts.js';

/**
 * `tasks.v1.heartbeat` (DESIGN §4.1): `execute` on the task; with the current attempt's token, the lease runs again
 * from now and `progress` (when given) is stored, a `progress` event appended when it changed. The answer tells the
 * worker whether a cancel was requested. Another token: CONFLICT `lease_lost`, nothing changed.
 */
@Injectable()
export class HeartbeatTask {
  constructor(
    private readonly tasks: TasksRepository,
    private readonly access: TaskAccess,
    private readonly history: TaskHistory,
  ) {}

  async execute(principal: Principal, input: RequestOf<typeof tasksContract.heartbeat>): Promise<ReplyOf<typeof tasksContract.heartbeat>> {
    return this.tasks.transaction(async (tx) => {
      const row = await this.tasks.lock(tx, principal.tenantId, input.id);
      if (!row) throw new DomainError('NOT_FOUND', 'task not found');
      // Decided on the locked row, not on a read before the transaction (one round trip fewer: issue 19). Anyone but
      // the task's creator is asked about at authz-proxy meanwhile; only calls for this very task wait on its lock.
      await this.access.requireExecute(principal, row);
      if (row.status !== 'running' || row.leaseToken !== input.leaseToken) throw leaseLost();
      const progress = 'progress' in input && input.progress !== undefined ? { value: input.progress } : undefined;
      const updated = await this.tasks.extendLease(tx, row.id, progress);
      if (progress && !isDeepStrictEqual(progress.value, row.progress)) {
        await this.history.record(tx, updated, 'progress', { attempt: row.attempt, progress: progress.value });
      }
      if (!updated.leaseExpiresAt) throw new Error(`task ${row.id}: no lease expiry after its lease was extended`);
      return { leaseExpiresAt: updated.leaseExpiresAt.toISOString(), cancelRequested: updated.cancelRequestedAt !== null };
    });
  }
}
