import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { resourceRef } from '@agentplane/domain';
import { AuthzRegistration } from '../authz-registration.js';
import { TasksRepository } from './tasks.repository.js';
import { TaskHistory } from './task-history.js';
import { TaskAttempts } from './task-attempts.js';
import { TaskMetrics } from './task-metrics.js';

export const SWEEP_SETTINGS = Symbol('SWEEP_SETTINGS');
export interface SweepSettings {
  intervalMs: number;
  batchSize: number;
  /** Hours an ended task is kept after it finished (TASKS_RETENTION_HOURS); 0 or absent keeps every task. */
  retentionHours?: number;
}

/** Who a retention's delete names in the task's `deleted` event. */
export const RETENTION_DELETE = { by: 'system', reason: 'retention' } as const;

/**
 * Ends attempts whose lease expired (`lease_expired`) or that ran past their timeout (`timed_out`) exactly as a
 * retryable fail would (DESIGN §4.1). Runs on every instance: each batch claims its rows `FOR UPDATE SKIP LOCKED`, so
 * instances share the work and never wait on a worker's call in flight; batches repeat while full. With a retention
 * (TASKS_RETENTION_HOURS), it then deletes the ended tasks that finished longer ago, as a delete would: row, history,
 * a `deleted` event naming `system`, and the deregistration of its authz resource, in one transaction per batch.
 */
@Injectable()
export class TaskSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('TaskSweeper');
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = false;

  constructor(
    @Inject(SWEEP_SETTINGS) private readonly settings: SweepSettings,
    private readonly tasks: TasksRepository,
    private readonly history: TaskHistory,
    private readonly attempts: TaskAttempts,
    private readonly metrics: TaskMetrics,
    private readonly registration: AuthzRegistration,
  ) {}

  onApplicationBootstrap(): void {
    if (this.settings.intervalMs <= 0) return;
    this.timer = setInterval(() => {
      if (this.running || this.stopped) return;
      this.running = this.sweep()
        .then(() => this.purge())
        .catch((err: unknown) => this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'task sweep failed; retried next interval'))
        .finally(() => (this.running = undefined));
    }, this.settings.intervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** Sweeps until a batch comes back short; returns how many attempts it ended. */
  async sweep(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.tasks.transaction(async (tx) => {
        const rows = await this.tasks.expired(tx, this.settings.batchSize);
        for (const row of rows) {
          const reason = row.timedOut ? 'timed_out' : 'lease_expired';
          await this.history.record(tx, row, reason, { attempt: row.attempt, workerId: row.workerId });
          const message = reason === 'timed_out' ? `attempt ${row.attempt} ran past its timeout of ${row.timeoutSeconds} s` : `attempt ${row.attempt} missed its heartbeat (lease expired)`;
          await this.attempts.end(tx, row, { message, type: reason, retryable: true, source: 'sweeper' });
          this.metrics.swept(reason);
        }
        return rows.length;
      });
      total += n;
      if (n < this.settings.batchSize || this.stopped) return total;
    }
  }

  /** Deletes ended tasks past the retention, a batch per transaction, until a batch comes back short; how many. */
  async purge(): Promise<number> {
    const hours = this.settings.retentionHours ?? 0;
    if (hours <= 0) return 0;
    let total = 0;
    for (;;) {
      const n = await this.tasks.transaction(async (tx) => {
        const rows = await this.tasks.pastRetention(tx, hours, this.settings.batchSize);
        for (const row of rows) {
          // locked by the select above, so the delete finds it
          await this.tasks.delete(tx, row.tenantId, row.id, this.history.updatedEvent(row, 'deleted', RETENTION_DELETE));
          await this.registration.enqueueDeregister(tx, resourceRef('task', row.id));
        }
        return rows.length;
      });
      // the deregistrations go through the outbox: an inline call would need a caller's token, and there is none here
      total += n;
      if (n > 0) this.logger.log({ deleted: n, retentionHours: hours }, 'deleted ended tasks past their retention');
      if (n < this.settings.batchSize || this.stopped) return total;
    }
  }
}
