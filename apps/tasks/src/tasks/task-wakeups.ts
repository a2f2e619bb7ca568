import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import pg from 'pg';
import { WAKE_CHANNEL } from './tasks.repository.js';

export const WAKEUPS_DATABASE_URL = Symbol('WAKEUPS_DATABASE_URL');

/**
 * A subscription to one key: `wait` resolves true at the first notification since the watch began (or, for one that
 * names a due time, at that time), else false at the timeout.
 */
export interface Watch {
  wait(ms: number): Promise<boolean>;
  close(): void;
}

interface Watcher {
  /** The earliest time a notification said something is due (ms since epoch); <= now means "now". */
  dueAt?: number;
  /** While waiting: re-arm the wake-up after `dueAt` changed. */
  reschedule?: () => void;
}

const DUE_SLACK_MS = 5;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Long-poll wake-ups over PostgreSQL LISTEN/NOTIFY (DESIGN §4.1): one dedicated connection per instance listens on
 * WAKE_CHANNEL; a transaction that makes a task claimable (`a:<agentId>`, with `@<ms>` when only from that time on,
 * e.g. a retry after its backoff) or changes one (`t:<taskId>`) notifies at commit. Waiting holds no pool connection, only a timer. If the listening connection drops, it reconnects; waiters
 * still recheck on their own bounded timers meanwhile.
 */
@Injectable()
export class TaskWakeups implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('TaskWakeups');
  private readonly watchers = new Map<string, Set<Watcher>>();
  private client?: pg.Client;
  private stopping = false;

  constructor(@Inject(WAKEUPS_DATABASE_URL) private readonly url: string) {}

  onApplicationBootstrap(): void {
    void this.listen();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    for (const set of this.watchers.values()) for (const w of set) w.reschedule?.();
    await this.client?.end().catch(() => undefined);
  }

  watch(key: string): Watch {
    const w: Watcher = {};
    let set = this.watchers.get(key);
    if (!set) this.watchers.set(key, (set = new Set()));
    set.add(w);
    return {
      wait: (ms) =>
        new Promise<boolean>((resolve) => {
          const deadline = Date.now() + Math.max(0, ms);
          let timer: NodeJS.Timeout | undefined;
          const finish = (woken: boolean) => {
            clearTimeout(timer);
            w.reschedule = undefined;
            if (woken) w.dueAt = undefined;
            resolve(woken);
          };
          const arm = () => {
            clearTimeout(timer);
            const due = w.dueAt ?? Infinity;
            if (this.stopping || due <= Date.now()) return finish(true);
            // A due time is in ms, the database's in µs: a little late, so the claim then finds the task due.
            const at = Math.min(deadline, due + DUE_SLACK_MS);
            timer = setTimeout(() => finish(at < deadline), Math.max(0, at - Date.now()));
          };
          w.reschedule = arm;
          arm();
        }),
      close: () => {
        w.reschedule = undefined;
        set.delete(w);
        if (set.size === 0) this.watchers.delete(key);
      },
    };
  }

  /** `payload` is `<key>` or `<key>@<due ms since epoch>` (a task that becomes claimable later, e.g. after a backoff). */
  private notify(payload: string): void {
    const at = payload.lastIndexOf('@');
    const key = at > 0 ? payload.slice(0, at) : payload;
    const due = at > 0 ? Number(payload.slice(at + 1)) : 0;
    for (const w of this.watchers.get(key) ?? []) {
      w.dueAt = Math.min(w.dueAt ?? Infinity, Number.isFinite(due) ? due : 0);
      w.reschedule?.();
    }
  }

  private async listen(): Promise<void> {
    while (!this.stopping) {
      const c = new pg.Client({ connectionString: this.url, application_name: 'agentplane-tasks-wakeups' });
      const ended = new Promise<void>((resolve) => {
        c.on('error', (err) => {
          this.logger.warn({ err: err.message }, 'tasks wake-ups: LISTEN connection lost');
          resolve();
        });
        c.on('end', () => resolve());
      });
      c.on('notification', (n) => n.payload && this.notify(n.payload));
      try {
        await c.connect();
        await c.query(`LISTEN ${WAKE_CHANNEL}`);
        this.client = c;
        if (this.stopping) await c.end();
        await ended;
      } catch (err) {
        this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'tasks wake-ups: LISTEN failed; waiters recheck on their timers until it reconnects');
        await c.end().catch(() => undefined);
      }
      if (!this.stopping) {
        // A notification lost while reconnecting: every waiter rechecks now.
        for (const key of this.watchers.keys()) this.notify(key);
        await sleep(1_000);
      }
    }
  }
}
