import { Inject, Injectable, Logger, Optional, type BeforeApplicationShutdown, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { NATS_CONNECTION, NATS_OPTIONS } from '@agentplane/messaging';
import { requestTokenValidUntil } from '@agentplane/auth';
import { DatabaseClock } from '@agentplane/service-shell';

/** Where tasks instances tell each other what changed (internal: only the tasks identity may publish or subscribe). */
export const WAKE_SUBJECT = 'tasks.internal.v1.wake';

/** `{recheckMs}` (TASKS_LONG_POLL_RECHECK_MS): how often a long-poll rechecks without a wake-up. */
export const WAKEUP_SETTINGS = Symbol('WAKEUP_SETTINGS');
export interface WakeupSettings {
  recheckMs: number;
}
/** TASKS_LONG_POLL_RECHECK_MS' default. */
export const DEFAULT_RECHECK_MS = 1_000;

/**
 * A subscription to one key: `wait` resolves true at the first notification since the watch began (or, for one that
 * names a due time, at that time), else false at the timeout.
 */
export interface Watch {
  wait(ms: number): Promise<boolean>;
  close(): void;
}

interface Watcher {
  /**
   * The wake-ups this watcher holds, earliest first: each a task claimable from that time on (ms since epoch; <= now
   * means now). A claim woken takes one, and keeps the later ones for its next wait (or hands them on as it ends).
   */
  dues: number[];
  /** While waiting: re-arm the wake-up after `dues` changed. */
  reschedule?: () => void;
}

/** Wake-ups one watcher holds at most (the earliest kept); a task past them is found by a recheck. */
const MAX_DUES_PER_WATCHER = 1_000;

const DUE_SLACK_MS = 5;

/** Keys sent in one message at most (a key is under 60 bytes; NATS' default max payload is 1 MiB). */
const MAX_KEYS_PER_MESSAGE = 1_000;

/**
 * When a long-poll of `waitMs` must answer: at the end of its wait, or when its caller's token stops being accepted
 * (its `exp` plus the verifier's clock tolerance) if that comes first. Then it answers what it has, as at the end of a
 * wait, and the caller's next request with that token is UNAUTHENTICATED: a wait never outlives the token it was let
 * in with.
 */
export function longPollDeadline(waitMs: number): number {
  const end = Date.now() + waitMs;
  return waitMs > 0 ? Math.min(end, requestTokenValidUntil() ?? Infinity) : end; // no wait: no token to read again
}

/**
 * Long-poll wake-ups (DESIGN §4.1): once a transaction that makes a task claimable (`a:<agentId>`, with `@<ms>` when
 * only from that time on, e.g. a retry after its backoff) or changes one (`t:<taskId>`) has committed, its keys are
 * published on WAKE_SUBJECT, which every tasks instance subscribes to (no queue group: each wakes its own waiters).
 * Waiting holds no pool connection, only a timer, and every waiter rechecks on its own bounded timer anyway (a key
 * lost with a crash between commit and publish, or while the connection was down, costs at most that recheck).
 *
 * It was PostgreSQL LISTEN/NOTIFY, with the NOTIFY in the transaction: PostgreSQL serialises the commits of all
 * notifying transactions of a database (a lock held through the commit's WAL flush), which cut 16 concurrent writers
 * from ~7,700 to ~2,500 commits/s on this machine and made every task transition wait its turn (issue 19).
 */
@Injectable()
export class TaskWakeups implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('TaskWakeups');
  private readonly watchers = new Map<string, Set<Watcher>>();
  private sub?: Subscription;
  private stopping = false;
  private pending: string[] = [];
  private readonly subject: string;
  /**
   * Without a wake-up, a long-poll (a claim, a get, a history page) still looks again this often: a `runAfter`
   * passing, a wake-up lost with a crash between commit and publish or while NATS reconnected.
   */
  readonly recheckMs: number;

  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(NATS_OPTIONS) nats: { prefix: string },
    @Optional() @Inject(WAKEUP_SETTINGS) settings?: WakeupSettings,
    /** Due times are the database's (a task's runAfter): compared with its clock, where this instance's is off. */
    @Optional() private readonly clock?: DatabaseClock,
  ) {
    this.subject = `${nats.prefix}${WAKE_SUBJECT}`;
    this.recheckMs = settings?.recheckMs ?? DEFAULT_RECHECK_MS;
  }

  onApplicationBootstrap(): void {
    this.sub = this.nc.subscribe(this.subject, {
      callback: (err, msg) => {
        if (err) return this.logger.warn({ err: err.message }, 'tasks wake-ups: subscription failed; waiters recheck on their timers');
        for (const key of msg.string().split('\n')) if (key) this.notify(key);
      },
    });
    void this.recheckAfterReconnects();
  }

  /** Long-polls waiting now: claims (on an agent) and watches of one task (a `GET ?waitMs`, a history page). */
  waiting(): { claim: number; task: number } {
    let claim = 0;
    let task = 0;
    for (const [key, set] of this.watchers) {
      if (key.startsWith('a:')) claim += set.size;
      else task += set.size;
    }
    return { claim, task };
  }

  /** The service is stopping: a long-poll answers what it has now instead of waiting (the `stopping` check in each). */
  get isStopping(): boolean {
    return this.stopping;
  }

  /**
   * Before the NATS server stops taking requests and waits for those in hand: every long-poll is woken and answers
   * now (a claim what it finds, a get the task as it is, a history page what is there), while the connection can
   * still carry the answers, so a caller is answered at once rather than reading UNAVAILABLE after its timeout. A
   * request that arrives while the service stops does not wait either.
   */
  beforeApplicationShutdown(): void {
    this.stopping = true;
    for (const set of this.watchers.values()) for (const w of set) w.reschedule?.();
  }

  /** Last: the wake-ups still gathered go out, and no more come in (the waiters were woken before, or are now). */
  onApplicationShutdown(): void {
    this.flush();
    this.sub?.unsubscribe();
    if (!this.stopping) this.beforeApplicationShutdown();
  }

  /**
   * After commit: tells every instance (this one included) what the transaction changed. The keys of all the commits
   * that land in one turn of the event loop go out as one message (in order, duplicates kept: each `a:` key wakes one
   * claim), so a burst of creates costs the bus and every instance one message, not one per create (issue 19).
   */
  publish(keys: string[]): void {
    if (keys.length === 0 || this.nc.isClosed()) return;
    const first = this.pending.length === 0;
    for (const k of keys) this.pending.push(k);
    if (this.pending.length >= MAX_KEYS_PER_MESSAGE) this.flush();
    else if (first) setImmediate(() => this.flush());
  }

  /** Sends what publish() gathered; a no-op when nothing is pending. */
  flush(): void {
    if (this.pending.length === 0) return;
    const keys = this.pending;
    this.pending = [];
    if (this.nc.isClosed()) return;
    try {
      this.nc.publish(this.subject, keys.join('\n'));
    } catch (err) {
      // The waiters' own rechecks cover it.
      this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'tasks wake-ups: publish failed');
    }
  }

  watch(key: string): Watch {
    const w: Watcher = { dues: [] };
    let set = this.watchers.get(key);
    if (!set) this.watchers.set(key, (set = new Set()));
    set.add(w);
    const now = () => (this.clock?.now() ?? new Date()).getTime();
    return {
      wait: (ms) =>
        new Promise<boolean>((resolve) => {
          const deadline = Date.now() + Math.max(0, ms);
          let timer: NodeJS.Timeout | undefined;
          const finish = (woken: boolean) => {
            clearTimeout(timer);
            w.reschedule = undefined;
            // Woken for what is due now: a claim takes one wake-up, and any other now due is another task, for another
            // claim (a claim may take fewer than are due). Later ones stay for this watcher's next wait.
            const used = woken && !this.stopping ? w.dues.splice(0, dueCount(w.dues, now())) : [];
            if (key.startsWith('a:')) this.handOn(key, w, used.slice(1));
            resolve(woken);
          };
          const arm = () => {
            clearTimeout(timer);
            const toDue = (w.dues[0] ?? Infinity) - now();
            if (this.stopping || toDue <= 0) return finish(true);
            // A due time is in ms, the database's in µs: a little late, so the claim then finds the task due.
            const toDeadline = deadline - Date.now();
            const dueFirst = toDue + DUE_SLACK_MS < toDeadline;
            timer = setTimeout(() => finish(dueFirst), Math.max(0, dueFirst ? toDue + DUE_SLACK_MS : toDeadline));
          };
          w.reschedule = arm;
          arm();
        }),
      close: () => {
        w.reschedule = undefined;
        set.delete(w);
        if (set.size === 0) this.watchers.delete(key);
        // A claim that ends holding wake-ups it did not wait for (it had just claimed): the next ones get them.
        else if (key.startsWith('a:')) this.handOn(key, w, w.dues.splice(0));
      },
    };
  }

  /** Wake-ups `from` holds and will not use, each to another claim of the key (none when it was the last). */
  private handOn(key: string, from: Watcher, dues: number[]): void {
    for (const due of dues) this.wake(key, due, true, from);
  }

  /** `payload` is `<key>` or `<key>@<due ms since epoch>` (a task that becomes claimable later, e.g. after a backoff). */
  private notify(payload: string, everyone = false): void {
    const at = payload.lastIndexOf('@');
    const key = at > 0 ? payload.slice(0, at) : payload;
    const due = at > 0 ? Number(payload.slice(at + 1)) : 0;
    this.wake(key, Number.isFinite(due) ? due : 0, !everyone && key.startsWith('a:'));
  }

  /**
   * A task that became claimable (`a:`, `one`) needs one claim of this instance, not all of them (the others would
   * each run a claim transaction to find nothing): a waiting claim that holds no wake-up is woken then (the
   * longest-waiting one), else a waiting one holds it beside its own, else the longest-watching claim (busy claiming)
   * holds it for its next wait. A claim that ends without using its wake-ups hands them on (`close`). Whoever watches
   * a task (`t:`) is told every time.
   */
  private wake(key: string, when: number, one: boolean, except?: Watcher): void {
    const set = this.watchers.get(key);
    if (!set) return;
    const mark = (w: Watcher) => {
      if (w.dues.length >= MAX_DUES_PER_WATCHER && when >= (w.dues.at(-1) ?? 0)) return;
      w.dues.splice(dueCount(w.dues, when), 0, when);
      if (w.dues.length > MAX_DUES_PER_WATCHER) w.dues.pop();
      w.reschedule?.();
    };
    if (!one) return set.forEach(mark);
    let idle: Watcher | undefined;
    let waiting: Watcher | undefined;
    let first: Watcher | undefined;
    for (const w of set) {
      if (w === except) continue;
      first ??= w;
      if (!w.reschedule) continue;
      waiting ??= w;
      if (w.dues.length === 0) {
        idle = w;
        break;
      }
    }
    // no other claim: the one handing it on keeps it (it may want another task once it has claimed)
    const chosen = idle ?? waiting ?? first ?? (except && set.has(except) ? except : undefined);
    if (chosen) mark(chosen);
  }

  /** A key published while this connection was down is lost: every waiter rechecks once it is back. */
  private async recheckAfterReconnects(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.stopping) return;
      if (s.type === 'reconnect') for (const key of this.watchers.keys()) this.notify(key, true);
    }
  }
}

/** How many of `dues` (ascending) are at or before `t`. */
function dueCount(dues: number[], t: number): number {
  let n = 0;
  while (n < dues.length && (dues[n] as number) <= t) n++;
  return n;
}
