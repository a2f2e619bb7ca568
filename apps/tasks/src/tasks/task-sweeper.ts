import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { TasksRepository } from './tasks.repository.js';
import { TaskHistory } from './task-history.js';
import { TaskAttempts } from './task-attempts.js';
import { TaskMetrics } from './task-metrics.js';

export const SWEEP_SETTINGS = Symbol('SWEEP_SETTINGS');
export interface SweepSettings {
  intervalMs: number;
  batchSize: number;
}

/**
 * Ends attempts whose lease expired (`lease_expired`) or that ran past their timeout (`timed_out`) exactly as a
 * retryable fail would (DESIGN §4.1). Runs on every instance: each batch claims its rows `FOR UPDATE SKIP LOCKED`, so
 * instances share the work and never wait on a worker's call in flight; batches repeat while full.
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
  ) {}

  onApplicationBootstrap(): void {
    if (this.settings.intervalMs <= 0) return;
    this.timer = setInterval(() => {
      if (this.running || this.stopped) return;
      this.running = this.sweep()
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
        const now = Date.now();
        for (const row of rows) {
          const reason = row.deadlineAt && row.deadlineAt.getTime() <= now ? 'timed_out' : 'lease_expired';
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
}
