import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
import { MetricsRegistry } from '@agentplane/observability';
import { TasksRepository } from './tasks.repository.js';
import { TaskWakeups } from './task-wakeups.js';

export type AttemptOutcome = 'completed' | 'failed' | 'retried' | 'canceled';

/**
 * DESIGN §4.1 metrics: queue depth by agent and status (pending and running, read at scrape time from their partial
 * indexes), attempt outcomes, lease expiries and timeouts, claim latency (claimable → claimed), long-polls held.
 */
@Injectable()
export class TaskMetrics {
  private readonly attempts: Counter<'outcome'>;
  private readonly expiries: Counter<'reason'>;
  private readonly claimLatency: Histogram;

  constructor(registry: MetricsRegistry, tasks: TasksRepository, wakeups: TaskWakeups) {
    new Gauge({
      name: 'tasks_long_polls_waiting',
      help: 'Long-polls this instance holds now, by kind: claim (on an agent) or task (a GET ?waitMs, a history page, an event stream\'s page)',
      labelNames: ['kind'],
      registers: [registry],
      collect() {
        const w = wakeups.waiting();
        this.set({ kind: 'claim' }, w.claim);
        this.set({ kind: 'task' }, w.task);
      },
    });
    new Gauge({
      name: 'tasks_queue_depth',
      help: 'Tasks waiting (pending) or being run (running), by agent',
      labelNames: ['agent_id', 'status'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const r of await tasks.queueDepth()) this.set({ agent_id: r.agentId, status: r.status }, r.n);
      },
    });
    this.attempts = new Counter({ name: 'tasks_attempts_total', help: 'Ended task attempts by outcome (completed|failed|retried|canceled)', labelNames: ['outcome'], registers: [registry] });
    this.expiries = new Counter({ name: 'tasks_lease_expiries_total', help: 'Attempts ended by the sweeper, by reason (lease_expired|timed_out)', labelNames: ['reason'], registers: [registry] });
    this.claimLatency = new Histogram({
      name: 'tasks_claim_latency_seconds',
      help: 'From a task becoming claimable (created or runAfter) to its claim',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers: [registry],
    });
  }

  attemptEnded(outcome: AttemptOutcome): void {
    this.attempts.inc({ outcome });
  }

  swept(reason: 'lease_expired' | 'timed_out'): void {
    this.expiries.inc({ reason });
  }

  claimed(claimableSince: Date, at: Date): void {
    this.claimLatency.observe(Math.max(0, (at.getTime() - claimableSince.getTime()) / 1000));
  }
}
