import { Injectable, Logger } from '@nestjs/common';
import type { ClaimedTask, RequestOf, tasksContract } from '@agentplane/contracts';
import { DomainError, type Principal } from '@agentplane/domain';
import { TasksRepository } from './tasks.repository.js';
import { TaskAccess } from './task-access.js';
import { TaskHistory } from './task-history.js';
import { TaskMetrics } from './task-metrics.js';
import { longPollDeadline, TaskWakeups } from './task-wakeups.js';
import { toTask, type TaskRow } from './task.js';

/**
 * `tasks.v1.claim` (DESIGN §4.1): `execute` on the agent; up to `max` claimable tasks, never past the agent's
 * max_concurrency, each a new attempt with its own lease token. With `waitMs`, an empty claim waits for a
 * notification that a task of this agent became claimable, holding no database connection meanwhile.
 */
@Injectable()
export class ClaimTasks {
  private readonly logger = new Logger('ClaimTasks');

  constructor(
    private readonly tasks: TasksRepository,
    private readonly access: TaskAccess,
    private readonly history: TaskHistory,
    private readonly metrics: TaskMetrics,
    private readonly wakeups: TaskWakeups,
  ) {}

  async execute(principal: Principal, input: RequestOf<typeof tasksContract.claim>): Promise<{ items: ClaimedTask[] }> {
    const agent = await this.access.require(principal, 'execute', input.agentId);
    // An agent's max_concurrency is fixed when it is created: an uncapped one needs no count (nor lock) per claim.
    const capped = agent.maxConcurrency !== null;
    const deadline = longPollDeadline(input.waitMs);
    // Watching before the first claim: a task created between an empty claim and the wait still wakes it.
    const watch = input.waitMs > 0 ? this.wakeups.watch(`a:${input.agentId}`) : undefined;
    try {
      for (;;) {
        const items = await this.claimOnce(input, capped);
        const left = deadline - Date.now();
        if (items.length > 0 || !watch || left <= 0 || this.wakeups.isStopping) return { items };
        await watch.wait(Math.min(left, this.wakeups.recheckMs));
        // a grant revoked while the claim waited: no task for it
        await this.access.requireOnAgent(principal, 'execute', agent);
      }
    } finally {
      watch?.close();
    }
  }

  /**
   * A complete's `next` (DESIGN §4.1): once the complete has committed, up to `max` tasks of the same agent claimed
   * for the worker, as a claim without a wait. The complete stands whatever happens here: a refused or failed claim
   * is an empty list (the worker's own claim then says why).
   */
  async claimAfterComplete(principal: Principal, agentId: string, next: { workerId: string; max: number }): Promise<ClaimedTask[]> {
    try {
      return (await this.execute(principal, { agentId, workerId: next.workerId, max: next.max, waitMs: 0 })).items;
    } catch (err) {
      if (!(err instanceof DomainError)) this.logger.warn({ agentId, err: err instanceof Error ? err.message : String(err) }, 'the claim after a complete failed; the worker claims on its own');
      return [];
    }
  }

  private async claimOnce(input: RequestOf<typeof tasksContract.claim>, capped: boolean): Promise<ClaimedTask[]> {
    if (!capped) {
      // No cap to count under a lock: the claim and its history in one statement (issue 19); null when a claimed
      // task's history moved meanwhile (nothing was written), then the transaction below.
      const rows = await this.tasks.claimFused(input.agentId, input.workerId, input.max, this.history.eventHeaders());
      if (rows) return rows.map((row) => this.claimed(row));
    }
    return this.tasks.transaction(async (tx) => {
      const room = capped ? await this.tasks.concurrencyRoom(tx, input.agentId) : null;
      const max = room === null ? input.max : Math.min(input.max, room);
      if (max <= 0) return [];
      const rows = await this.tasks.claim(tx, input.agentId, input.workerId, max);
      const items: ClaimedTask[] = [];
      for (const row of rows) {
        await this.history.record(tx, row, 'claimed', { attempt: row.attempt, workerId: row.workerId, leaseExpiresAt: row.leaseExpiresAt?.toISOString() });
        items.push(this.claimed(row));
      }
      return items;
    });
  }

  private claimed(row: TaskRow): ClaimedTask {
    if (row.leaseToken === null) throw new Error(`task ${row.id}: claimed without a lease token`);
    this.metrics.claimed(row.runAfter > row.createdAt ? row.runAfter : row.createdAt, row.startedAt ?? new Date());
    return { ...toTask(row), leaseToken: row.leaseToken };
  }
}
