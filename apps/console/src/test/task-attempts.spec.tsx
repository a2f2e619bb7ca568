import { describe, expect, it } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import { attemptDuration, attemptsOf } from '../api/task-attempts.js';
import type { TaskEvent } from '../api/task-events.js';
import { AttemptsTable } from '../components/Attempts.js';

let seq = 0;
const ev = (type: TaskEvent['type'], second: number, data: Record<string, unknown> = {}): TaskEvent => ({
  taskId: '7b0c7c7e-4a57-4d1b-9f83-2d5d3b0b8a11',
  seq: ++seq,
  type,
  at: new Date(Date.UTC(2026, 11, 6, 12, 0, second)).toISOString(),
  data,
});
const at = (second: number) => new Date(Date.UTC(2026, 11, 6, 12, 0, second)).toISOString();

describe('attemptsOf: a task\'s attempts from its events', () => {
  it('a failure with attempts left is retried, the next attempt completes; each keeps its worker, times and error', () => {
    const events = [
      ev('created', 0),
      ev('claimed', 1, { attempt: 1, workerId: 'w-a', leaseExpiresAt: at(31) }),
      ev('progress', 2, { attempt: 1, progress: { pct: 10 } }),
      ev('retry_scheduled', 3, { attempt: 1, workerId: 'w-a', error: { message: 'upstream 502', retryable: true }, delayMs: 1000, runAfter: at(4) }),
      ev('claimed', 5, { attempt: 2, workerId: 'w-b' }),
      ev('completed', 7, { attempt: 2, workerId: 'w-b' }),
    ];
    expect(attemptsOf(events)).toEqual([
      { attempt: 1, workerId: 'w-a', startedAt: at(1), endedAt: at(3), outcome: 'retried', error: 'upstream 502', retryAt: at(4), progress: { pct: 10 } },
      { attempt: 2, workerId: 'w-b', startedAt: at(5), endedAt: at(7), outcome: 'completed', error: undefined },
    ]);
  });

  it('names the sweeper\'s cause, and reads events in seq order whatever order they came in', () => {
    const events = [
      ev('claimed', 1, { attempt: 1, workerId: 'w-a' }),
      ev('progress', 2, { attempt: 1, progress: { pct: 10 } }),
      ev('progress', 3, { attempt: 1, progress: { pct: 60 } }),
      ev('lease_expired', 40, { attempt: 1, workerId: 'w-a' }),
      ev('failed', 40, { attempt: 1, workerId: 'w-a', error: { message: 'attempt 1 missed its heartbeat (lease expired)' } }),
    ];
    expect(attemptsOf([...events].reverse())).toEqual([
      { attempt: 1, workerId: 'w-a', startedAt: at(1), endedAt: at(40), outcome: 'failed', cause: 'lease_expired', error: 'attempt 1 missed its heartbeat (lease expired)', progress: { pct: 60 } },
    ]);
  });

  it('a cancel ends the running attempt; a pending task\'s cancel ends no attempt, before any claim or after a retry', () => {
    expect(attemptsOf([ev('created', 0), ev('canceled', 1, { attempt: 0 })])).toEqual([]);
    const running = attemptsOf([
      ev('claimed', 1, { attempt: 1, workerId: 'w-a' }),
      ev('cancel_requested', 2, { attempt: 1, by: 'user:carol' }),
      ev('canceled', 3, { attempt: 1, workerId: 'w-a', error: { message: 'stopped on request' } }),
    ]);
    expect(running).toMatchObject([{ attempt: 1, outcome: 'canceled', endedAt: at(3), error: 'stopped on request', cancelRequestedBy: 'user:carol' }]);
    // who asked is shown beside the outcome
    render(<AttemptsTable attempts={running} maxAttempts={3} />);
    expect(screen.getByRole('table', { name: 'Attempts' }).textContent).toContain('cancel asked by user:carol');
    const afterRetry = attemptsOf([
      ev('claimed', 1, { attempt: 1, workerId: 'w-a' }),
      ev('retry_scheduled', 2, { attempt: 1, workerId: 'w-a', error: { message: 'boom' }, runAfter: at(60) }),
      ev('canceled', 3, { attempt: 1 }),
    ]);
    expect(afterRetry).toMatchObject([{ attempt: 1, outcome: 'retried', endedAt: at(2), error: 'boom' }]);
  });

  it('an attempt in progress is running, with no end and no duration', () => {
    const [a] = attemptsOf([ev('claimed', 1, { attempt: 1, workerId: 'w-a' }), ev('progress', 2, { attempt: 1, progress: 'half' })]);
    expect(a).toEqual({ attempt: 1, workerId: 'w-a', startedAt: at(1), outcome: 'running', progress: 'half' });
    expect(attemptDuration(a!)).toBeUndefined();
    expect(attemptDuration({ startedAt: at(1), endedAt: at(1) })).toBe('0 ms');
    expect(attemptDuration({ startedAt: at(1), endedAt: at(13) })).toBe('12.0 s');
    expect(attemptDuration({ startedAt: at(0), endedAt: new Date(Date.UTC(2026, 11, 6, 12, 3, 5)).toISOString() })).toBe('3 min 5 s');
  });
});

describe('AttemptsTable', () => {
  it('shows a row per attempt with its outcome, and says so when none has begun', () => {
    const attempts = attemptsOf([
      ev('claimed', 1, { attempt: 1, workerId: 'w-a' }),
      ev('timed_out', 9, { attempt: 1, workerId: 'w-a' }),
      ev('retry_scheduled', 9, { attempt: 1, workerId: 'w-a', error: { message: 'attempt 1 ran past its timeout of 8 s' }, runAfter: at(10) }),
      ev('claimed', 11, { attempt: 2, workerId: 'w-b' }),
    ]);
    const { unmount } = render(<AttemptsTable attempts={attempts} maxAttempts={3} />);
    const rows = within(screen.getByRole('table', { name: 'Attempts' })).getAllByRole('row').slice(1);
    expect(rows.map((r) => r.getAttribute('data-outcome'))).toEqual(['retried', 'running']);
    expect(rows[0]!.textContent).toContain('1 of 3');
    expect(rows[0]!.textContent).toContain('ran past its timeout');
    expect(rows[0]!.textContent).toContain('attempt 1 ran past its timeout of 8 s');
    expect(rows[1]!.textContent).toContain('w-b');
    unmount();
    render(<AttemptsTable attempts={[]} maxAttempts={3} />);
    expect(screen.getByText(/no attempt has begun/)).toBeTruthy();
  });
});
