import { randomUUID } from 'node:crypto';
import { ExponentialBackoff, fullJitterGenerator, handleWhen, retry } from 'cockatiel';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { EnvelopeSchema, HEADERS, tasksContract, type ClaimedTask, type ReplyOf, type RequestOf, type RpcContract, type Task } from '@agentplane/contracts';
import { CLAIM_MAX, checkProgress, checkResult, errorRejected, messageOf, resultRejected, taskError, typeOf, type TaskError } from './report.js';

/** What the handler gets beside its task. */
export interface TaskContext {
  /** Aborted when the attempt should stop; its `reason` is a TaskAbortReason. */
  signal: AbortSignal;
  /** Stored with the next heartbeat (and sent at once by `heartbeat()`). */
  setProgress(progress: unknown): void;
  /** A heartbeat now (the worker also sends them on its own); resolves with whether a cancel was requested. */
  heartbeat(): Promise<boolean>;
}

/**
 * Why a task's signal was aborted:
 * - `"canceled"`: a cancel was requested; the handler's throw then ends the task as `canceled` (a result still
 *   completes it);
 * - `"lease_lost"`: the attempt was ended elsewhere (its lease expired, the sweeper retried or failed it);
 * - `"gone"`: the task is gone for this worker: deleted or no longer visible to it (NOT_FOUND, as the service answers a
 *   new request), or the worker may still read it but lost `execute` (FORBIDDEN): either way it can no longer act on
 *   the attempt, which the lease's expiry retries elsewhere.
 * After `"lease_lost"` and `"gone"` nothing more is sent for the attempt.
 */
export type TaskAbortReason = 'canceled' | 'lease_lost' | 'gone';

export type TaskHandler = (task: ClaimedTask, ctx: TaskContext) => Promise<unknown>;

export interface WorkerLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface AgentWorkerOptions {
  /** A nats.js connection (its own NATS identity). */
  nc: NatsConnection;
  /** The deployment's subject prefix ('' in production). */
  prefix?: string;
  /** The worker's bearer token (a service account granted `execute` on the agent), or a function returning a fresh one. */
  token: string | (() => string | Promise<string>);
  agentId: string;
  /** This worker's name for itself, recorded on each attempt (default `<hostname-less uuid>`). */
  workerId?: string;
  /** Tasks run at once by this worker (default 1; each claim asks for at most 100 of them, the contract's limit). */
  concurrency?: number;
  /** How long one claim long-polls (default 10 000 ms, at most 30 000); `stop()` may wait this long for it. */
  waitMs?: number;
  /** Heartbeat every `heartbeatTimeoutSeconds × heartbeatFraction` (default 1/3). */
  heartbeatFraction?: number;
  /** NATS request timeout of the calls that do not wait (default 5 000 ms). */
  requestTimeoutMs?: number;
  /** Pause after a failed claim (default 1 000 ms). */
  errorBackoffMs?: number;
  handler: TaskHandler;
  logger?: WorkerLogger;
}

/** A failure the handler throws to say "do not retry this attempt". */
export class NonRetryableError extends Error {
  constructor(
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'NonRetryableError';
  }
}

/** An error answer of the tasks service: its code (DESIGN §8) and details. */
export class TasksCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'TasksCallError';
  }

  get leaseLost(): boolean {
    return this.code === 'CONFLICT' && (this.details as { reason?: unknown } | undefined)?.reason === 'lease_lost';
  }

  /**
   * The task is gone for this caller: deleted or no longer visible (NOT_FOUND), or visible but no longer its to act
   * on (FORBIDDEN: `execute` revoked). Retrying cannot help; the lease's expiry hands the attempt to another worker.
   */
  get gone(): boolean {
    return this.code === 'NOT_FOUND' || this.code === 'FORBIDDEN';
  }

  /** The request was refused as invalid: the same request would be refused again. */
  get invalid(): boolean {
    return this.code === 'VALIDATION';
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const silent: WorkerLogger = { warn: () => undefined, error: () => undefined };

/** How often a task's lease is renewed: a fraction of its heartbeat timeout, at least every 500 ms apart. */
export function heartbeatIntervalMs(task: Pick<Task, 'heartbeatTimeoutSeconds'>, fraction = 1 / 3): number {
  const f = Number.isNaN(fraction) ? 1 / 3 : Math.min(Math.max(fraction, 0.05), 0.9);
  return Math.max(500, Math.floor(task.heartbeatTimeoutSeconds * 1000 * f));
}

/**
 * A worker of one agent over NATS (DESIGN §4.1), framework-free: long-polling claims up to `concurrency` tasks at
 * once, a background heartbeat per task at a fraction of its heartbeat timeout (carrying the latest progress),
 * the handler's result completed or its error failed (retryable unless a NonRetryableError), and the task's
 * AbortSignal fired when a cancel is requested or the lease is lost (then nothing more is sent for that attempt).
 * Each complete also claims the next task into the slot it frees (`next`), so a busy worker makes one call per task.
 * `stop()` drains: no new claims, the tasks in hand run to their end.
 */
export class AgentWorker {
  private readonly workerId: string;
  private readonly concurrency: number;
  private readonly waitMs: number;
  private readonly logger: WorkerLogger;
  private readonly inFlight = new Map<string, Promise<void>>();
  private loop?: Promise<void>;
  private stopping = false;
  private slotFreed?: () => void;

  constructor(private readonly opts: AgentWorkerOptions) {
    this.workerId = opts.workerId ?? `worker-${randomUUID()}`;
    // whole numbers, as the claim's contract takes them (Infinity: no limit of its own, each claim at most CLAIM_MAX)
    const concurrency = opts.concurrency ?? 1;
    this.concurrency = Number.isNaN(concurrency) ? 1 : Math.max(1, Math.floor(concurrency));
    const waitMs = opts.waitMs ?? 10_000;
    this.waitMs = Number.isNaN(waitMs) ? 10_000 : Math.min(Math.max(Math.floor(waitMs), 0), 30_000);
    this.logger = opts.logger ?? silent;
    // an agent id or worker id the claim refuses would make every claim fail, with only warnings: said here instead
    const claim = tasksContract.claim.request.safeParse({ agentId: opts.agentId, workerId: this.workerId });
    if (!claim.success) throw new TypeError(`AgentWorker: ${claim.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }

  /** Tasks being run now. */
  get running(): number {
    return this.inFlight.size;
  }

  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.loop = this.run();
  }

  /** Stops claiming and waits for the tasks in hand (and a claim in flight, whose tasks are run too). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.slotFreed?.();
    await this.loop;
    // A complete in flight may still bring a next task (asked for before the stop): run it too.
    while (this.inFlight.size > 0) await Promise.all(this.inFlight.values());
    this.loop = undefined;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const free = this.concurrency - this.inFlight.size;
      if (free <= 0) {
        await new Promise<void>((r) => (this.slotFreed = r));
        continue;
      }
      let items: ClaimedTask[];
      try {
        // a concurrency above the contract's most per claim fills its slots claim after claim
        const max = Math.min(free, CLAIM_MAX);
        ({ items } = await this.call(tasksContract.claim, { agentId: this.opts.agentId, workerId: this.workerId, max, waitMs: this.waitMs }, this.waitMs + 5_000));
      } catch (err) {
        this.logger.warn({ err: messageOf(err) }, 'claim failed; retrying');
        await sleep(this.opts.errorBackoffMs ?? 1_000);
        continue;
      }
      for (const task of items) this.launch(task);
    }
  }

  private launch(task: ClaimedTask): void {
    const p = this.execute(task).finally(() => {
      this.inFlight.delete(task.id);
      this.slotFreed?.();
    });
    this.inFlight.set(task.id, p);
  }

  /** One attempt: heartbeats beside the handler, then complete or fail with the attempt's lease token. */
  private async execute(task: ClaimedTask): Promise<void> {
    const controller = new AbortController();
    // the latest progress; `sent`: its JSON value once checked against the contract, `false` when it cannot be sent
    let progress: { value: unknown; sent?: { value: unknown } | false } | undefined;
    let lost = false;
    // when the lease this attempt holds was last renewed (by the claim, then by each heartbeat), by this process's clock
    let renewedAt = Date.now();
    /** The progress to send, checked once: one the contract refuses is dropped (a warning), never the heartbeat. */
    const progressToSend = (): { value: unknown } | undefined => {
      const p = progress;
      if (!p) return undefined;
      if (p.sent === undefined) {
        const checked = checkProgress(task, p.value);
        p.sent = checked.ok ? { value: checked.progress } : false;
        if (!checked.ok) this.logger.warn({ taskId: task.id, err: checked.why }, 'progress cannot be stored: it is not sent');
      }
      return p.sent && p.sent.value !== undefined ? p.sent : undefined;
    };
    const beat = async (): Promise<boolean> => {
      if (lost) return false;
      const p = progress;
      const sending = progressToSend();
      try {
        const body: RequestOf<typeof tasksContract.heartbeat> = { id: task.id, leaseToken: task.leaseToken, ...(sending ? { progress: sending.value } : {}) };
        const sent = Date.now();
        const reply = await this.call(tasksContract.heartbeat, body);
        renewedAt = sent;
        if (reply.cancelRequested && !controller.signal.aborted) controller.abort('canceled');
        return reply.cancelRequested;
      } catch (err) {
        if (err instanceof TasksCallError && err.invalid && sending && p) {
          // the service refused the progress (its contract may be stricter than ours): the lease must not lapse for it
          p.sent = false;
          this.logger.warn({ taskId: task.id, err: err.message }, 'progress refused by the tasks service: it is not sent');
          return beat();
        }
        if (err instanceof TasksCallError && (err.leaseLost || err.gone)) {
          lost = true;
          const reason: TaskAbortReason = err.gone ? 'gone' : 'lease_lost';
          if (!controller.signal.aborted) controller.abort(reason);
        } else this.logger.warn({ taskId: task.id, err: messageOf(err) }, 'heartbeat failed; retrying at the next interval');
        return false;
      }
    };
    const timer = setInterval(() => void beat(), heartbeatIntervalMs(task, this.opts.heartbeatFraction));
    const ctx: TaskContext = {
      signal: controller.signal,
      setProgress: (value) => {
        progress = { value };
      },
      heartbeat: beat,
    };
    let outcome: { ok: true; result: unknown } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, result: await this.opts.handler(task, ctx) };
    } catch (error) {
      outcome = { ok: false, error };
    } finally {
      clearInterval(timer);
    }
    if (lost) return;
    try {
      await this.report(task, outcome, renewedAt + task.heartbeatTimeoutSeconds * 1000);
    } catch (err) {
      // Lease lost: the attempt belongs to the sweeper or a successor now. Gone: deleted (or access revoked) while the
      // handler ran, so its outcome has nowhere to go. Anything else, past the lease: its expiry retries the task.
      if (err instanceof TasksCallError && err.gone)
        this.logger.warn({ taskId: task.id, code: err.code }, 'the task is gone (deleted, or access to its agent revoked): its outcome was not recorded');
      else if (!(err instanceof TasksCallError && err.leaseLost)) this.logger.error({ taskId: task.id, err: messageOf(err) }, 'could not report the end of an attempt');
    }
  }

  /**
   * An attempt's end, complete or fail ({@link send}). A result that cannot be stored (not JSON, or refused by the
   * complete's contract, here or by the service) fails the attempt instead, not retryable: `ResultRejected`, saying
   * why. An error the service refuses (VALIDATION, though {@link toTaskError} keeps to the contract) is replaced by
   * a minimal `ErrorRejected` one, as retryable as intended: either way the attempt ends now, never by its lease's
   * expiry and a run again.
   */
  private async report(task: ClaimedTask, outcome: { ok: true; result: unknown } | { ok: false; error: unknown }, leaseUntil: number): Promise<void> {
    if (!outcome.ok) return this.fail(task, toTaskError(outcome.error), leaseUntil);
    const checked = checkResult(task, outcome.result);
    let rejected: TaskError;
    if (checked.ok) {
      try {
        await this.send(task, leaseUntil, async (attempt) => {
          const next = this.stopping || attempt > 0 ? undefined : { workerId: this.workerId, max: 1 };
          const reply = await this.call(tasksContract.complete, { id: task.id, leaseToken: task.leaseToken, ...(checked.result !== undefined ? { result: checked.result } : {}), ...(next ? { next } : {}) });
          for (const t of reply.next ?? []) this.launch(t);
        });
        return;
      } catch (err) {
        if (!(err instanceof TasksCallError && err.invalid)) throw err;
        rejected = resultRejected(`the tasks service refused it (${err.message})`, err.details);
      }
    } else rejected = checked.error;
    this.logger.warn({ taskId: task.id, err: rejected.message }, 'the result cannot be stored: the attempt is failed, not to be retried');
    await this.fail(task, rejected, leaseUntil);
  }

  /** A fail; one the service refuses as invalid is sent again with a minimal error ({@link errorRejected}). */
  private async fail(task: ClaimedTask, error: TaskError, leaseUntil: number): Promise<void> {
    const send = (e: TaskError) => this.send(task, leaseUntil, async () => void (await this.call(tasksContract.fail, { id: task.id, leaseToken: task.leaseToken, error: e })));
    try {
      await send(error);
    } catch (err) {
      if (!(err instanceof TasksCallError && err.invalid)) throw err;
      this.logger.warn({ taskId: task.id, err: err.message }, 'the tasks service refused the error of an attempt: failing it with a minimal one');
      await send(errorRejected(error, err.message));
    }
  }

  /**
   * One call that ends an attempt, sent until the service answers it: a timeout, no responders or a service that
   * answers UNAVAILABLE or INTERNAL (a restart, a database failover), or UNAUTHENTICATED where the token is a function
   * (a token that expired while the handler ran: the next try takes a fresh one), is retried, with capped exponential
   * backoff and full jitter, until `leaseUntil` (when the lease the attempt held runs out, by this process's clock; the
   * sweeper decides after that). Both calls are idempotent for one lease token, so a retry of one that took effect but whose
   * answer was lost answers the same task. Unless draining, the first complete also claims the next task into the
   * slot this one frees (one round trip per task for a busy worker; the claim loop counts this task until it ends,
   * so the worker never holds more than `concurrency`); a retry does not, as the first may have claimed it already.
   */
  private async send(task: ClaimedTask, leaseUntil: number, call: (attempt: number) => Promise<void>): Promise<void> {
    const renewable = typeof this.opts.token === 'function';
    const transient = (err: unknown) =>
      Date.now() < leaseUntil &&
      (!(err instanceof TasksCallError) || err.code === 'UNAVAILABLE' || err.code === 'INTERNAL' || (renewable && err.code === 'UNAUTHENTICATED'));
    const policy = retry(handleWhen(transient), {
      maxAttempts: Number.MAX_SAFE_INTEGER,
      backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2_000, generator: fullJitterGenerator }),
    });
    const listener = policy.onRetry((r) => {
      const err = 'error' in r ? r.error : undefined;
      this.logger.warn({ taskId: task.id, attempt: r.attempt, delayMs: Math.round(r.delay), err: err?.message }, 'could not report the end of an attempt yet; retrying');
    });
    try {
      await policy.execute(({ attempt }) => call(attempt));
    } finally {
      listener.dispose();
    }
  }

  private async call<C extends RpcContract>(contract: C, body: RequestOf<C>, timeoutMs = this.opts.requestTimeoutMs ?? 5_000): Promise<ReplyOf<C>> {
    const token = typeof this.opts.token === 'function' ? await this.opts.token() : this.opts.token;
    const h = natsHeaders();
    h.set(HEADERS.authorization, `Bearer ${token}`);
    const msg = await this.opts.nc.request(`${this.opts.prefix ?? ''}${contract.subject}`, JSON.stringify(body), { headers: h, timeout: timeoutMs });
    const envelope = EnvelopeSchema.parse(msg.json());
    if (!envelope.ok) throw new TasksCallError(envelope.error.code, envelope.error.message, envelope.error.details);
    return envelope.data as ReplyOf<C>;
  }
}

/**
 * A thrown value as the fail call's error, always one the contract takes ({@link taskError}): its message and class
 * (made storable and cut to the limits); retryable unless it is a NonRetryableError, whose details come along when
 * they fit.
 */
export function toTaskError(err: unknown): TaskError {
  const details = err instanceof NonRetryableError ? err.details : undefined;
  return taskError({ message: messageOf(err), type: typeOf(err), retryable: !(err instanceof NonRetryableError), ...(details !== undefined ? { details } : {}) });
}
