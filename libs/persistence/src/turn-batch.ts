/** A question asked of a TurnBatch, with how to answer it. */
export type Asked<Q extends object, A> = Q & { resolve(answer: A): void; reject(err: unknown): void };

/**
 * Gathers the questions asked in one turn of the event loop and hands them to `run` together once the turn is over
 * (`setImmediate`), in the order they were asked; each question gets its own promise, which `run` settles. It is how
 * concurrent requests share one statement (issue 19: the creates of a turn commit together, the checks of a turn
 * are read together), without waiting longer than the turn.
 */
export class TurnBatch<Q extends object, A> {
  private pending: Array<Asked<Q, A>> = [];

  constructor(private readonly run: (batch: Array<Asked<Q, A>>) => void) {}

  ask(question: Q): Promise<A> {
    return new Promise<A>((resolve, reject) => {
      if (this.pending.push({ ...question, resolve, reject }) === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    this.run(batch);
  }
}
