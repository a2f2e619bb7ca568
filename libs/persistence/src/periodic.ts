/**
 * A service's housekeeping on its database (a sweep, a retention's pruning): `run` every `everyMs`, and at once on
 * `start` when asked. Never two runs at once (a tick that finds one running is skipped); a failed run goes to
 * `onError` and the next tick tries again. The timer holds no process open; `stop` ends it and waits for a run in
 * progress, so the pool it uses is not closed under it.
 */
export class PeriodicJob {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly run: () => Promise<unknown>,
    private readonly everyMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(opts: { atOnce?: boolean } = {}): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.everyMs);
    this.timer.unref();
    if (opts.atOnce) void this.tick();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One run now, unless one is under way (then that one); never rejects. */
  tick(): Promise<void> {
    this.running ??= this.run()
      .then(() => undefined, this.onError)
      .finally(() => (this.running = undefined));
    return this.running;
  }
}
