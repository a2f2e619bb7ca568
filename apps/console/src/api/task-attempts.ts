import type { TaskEvent } from './task-events.js';

/** How an attempt ended, or that it has not: `retried` is a failure with attempts left (`retry_scheduled`). */
export type AttemptOutcome = 'running' | 'completed' | 'failed' | 'retried' | 'canceled';

/** One run of a task by a worker, from its claim to its end (DESIGN §4.1), as its events tell it. */
export interface Attempt {
  attempt: number;
  workerId?: string;
  startedAt?: string;
  endedAt?: string;
  outcome: AttemptOutcome;
  /** The sweeper ended it: the worker missed its heartbeat, or the attempt ran past its timeout. */
  cause?: 'lease_expired' | 'timed_out';
  /** The error the attempt ended with (the worker's, or the sweeper's). */
  error?: string;
  /** When a retried attempt's task becomes claimable again. */
  retryAt?: string;
  /** The last progress its worker reported. */
  progress?: unknown;
  /** Who asked for the cancel that reached this attempt through its worker (`user:<id>`, `service_account:<id>`). */
  cancelRequestedBy?: string;
}

const ENDINGS: Partial<Record<TaskEvent['type'], AttemptOutcome>> = {
  completed: 'completed',
  failed: 'failed',
  retry_scheduled: 'retried',
  canceled: 'canceled',
};

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * A task's attempts, oldest first, from its events (any order; each seq once). An event names its attempt in
 * `data.attempt`. An attempt ends at its first ending event; a `canceled` for an attempt that already ended (a pending
 * task canceled after a retry) or that never began (canceled before any claim) is the task's, not an attempt's.
 */
export function attemptsOf(events: readonly TaskEvent[]): Attempt[] {
  const byNumber = new Map<number, Attempt>();
  for (const e of [...events].sort((a, b) => a.seq - b.seq)) {
    const n = e.data.attempt;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) continue;
    const ending = ENDINGS[e.type];
    let a = byNumber.get(n);
    if (!a) {
      // an attempt is begun by its claim; an earlier page's claim missing, its other events still make the row
      if (e.type === 'canceled' || e.type === 'cancel_requested') continue;
      a = { attempt: n, outcome: 'running' };
      byNumber.set(n, a);
    }
    a.workerId ??= text(e.data.workerId);
    if (e.type === 'cancel_requested') a.cancelRequestedBy = text(e.data.by);
    else if (e.type === 'claimed') a.startedAt = e.at;
    else if (e.type === 'progress') a.progress = e.data.progress;
    else if (e.type === 'lease_expired' || e.type === 'timed_out') a.cause = e.type;
    else if (ending && a.outcome === 'running') {
      a.outcome = ending;
      a.endedAt = e.at;
      a.error = text((e.data.error as { message?: unknown } | undefined)?.message);
      if (ending === 'retried') a.retryAt = text(e.data.runAfter);
    }
  }
  return [...byNumber.values()].sort((a, b) => a.attempt - b.attempt);
}

/** An attempt's duration for a person: `850 ms`, `12.4 s`, `3 min 5 s`; undefined while it runs. */
export function attemptDuration(a: Pick<Attempt, 'startedAt' | 'endedAt'>): string | undefined {
  if (!a.startedAt || !a.endedAt) return undefined;
  const ms = Date.parse(a.endedAt) - Date.parse(a.startedAt);
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1_000)} s`;
}
