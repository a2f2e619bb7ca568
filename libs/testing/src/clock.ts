import { jest } from '@jest/globals';

/** Everything Jest can fake but `Date`: timers, ticks and performance stay real, so I/O and the app go on as usual. */
const ALL_BUT_DATE = ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] as const;

/**
 * Runs `fn` with this process's clock (`Date` only) `offsetMs` off the real one, as an instance's clock may be off from
 * its database's (a service in this process reads it too). `moving` (the default): the faked clock goes on with real
 * time; otherwise it stands still.
 */
export async function withClockOffset<T>(offsetMs: number, fn: () => Promise<T>, opts: { moving?: boolean } = {}): Promise<T> {
  jest.useFakeTimers({ now: Date.now() + offsetMs, advanceTimers: opts.moving ?? true, doNotFake: [...ALL_BUT_DATE] });
  try {
    return await fn();
  } finally {
    jest.useRealTimers();
  }
}
