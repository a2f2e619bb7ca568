import { ExponentialBackoff, fullJitterGenerator, handleWhen, retry } from 'cockatiel';

export interface TransientRetry {
  /** Attempts in all, the first included. Default 8: at most about 18 s of waiting between them with the default delays. */
  maxAttempts?: number;
  /** The first retry's delay ceiling; doubled each time (full jitter), capped at 5 s. Default 250 ms. */
  initialDelayMs?: number;
  logger?: { warn(obj: object, msg: string): void };
}

/**
 * Runs `step` and retries it, with capped exponential backoff and full jitter, while it fails in a way `transient`
 * says passes; each retry is a warning (`message`, with the step, the attempt, the delay and the error). Anything else
 * is thrown at once, and the last error once attempts run out.
 */
export async function retryTransient<T>(
  what: string,
  step: () => Promise<T>,
  transient: (err: unknown) => boolean,
  message: string,
  opts: TransientRetry = {},
): Promise<T> {
  const policy = retry(handleWhen(transient), {
    maxAttempts: (opts.maxAttempts ?? 8) - 1,
    backoff: new ExponentialBackoff({ initialDelay: opts.initialDelayMs ?? 250, maxDelay: 5_000, generator: fullJitterGenerator }),
  });
  const listener = policy.onRetry((r) => {
    const err = 'error' in r ? r.error : undefined;
    opts.logger?.warn({ step: what, attempt: r.attempt, delayMs: Math.round(r.delay), err: err?.message }, message);
  });
  try {
    return await policy.execute(step);
  } finally {
    listener.dispose();
  }
}
