import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import pg from 'pg';
import { WAKE_CHANNEL } from './tasks.repository.js';

export const WAKEUPS_DATABASE_URL = Symbol('WAKEUPS_DATABASE_URL');

/** A subscription to one key: `wait` resolves true at the first notification since the watch began, else false at the timeout. */
export interface Watch {
  wait(ms: number): Promise<boolean>;
  close(): void;
}

interface Watcher {
  fired: boolean;
  wake?: () => void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Long-poll wake-ups over PostgreSQL LISTEN/NOTIFY (DESIGN §4.1): one dedicated connection per instance listens on
 * WAKE_CHANNEL; a transaction that makes a task claimable (`a:<agentId>`) or ends one (`t:<taskId>`) notifies at
 * commit. Waiting holds no pool connection, only a timer. If the listening connection drops, it reconnects; waiters
 * still recheck on their own bounded timers meanwhile.
 */
@Injectable()
export class TaskWakeups implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('TaskWakeups');
  private readonly watchers = new Map<string, Set<Watcher>>();
  private client?: pg.Client;
  private stopping = false;
  private ready?: Promise<void>;

  constructor(@Inject(WAKEUPS_DATABASE_URL) private readonly url: string) {}

  onApplicationBootstrap(): void {
    let resolveReady!: () => void;
    this.ready = new Promise((r) => (resolveReady = r));
    void this.listen(resolveReady);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    for (const set of this.watchers.values()) for (const w of set) w.wake?.();
    await this.client?.end().catch(() => undefined);
  }

  /** Resolves once the listening connection is up (or after a bounded wait): for tests and readiness. */
  async listening(timeoutMs = 5_000): Promise<void> {
    await Promise.race([this.ready, sleep(timeoutMs)]);
  }

  watch(key: string): Watch {
    const w: Watcher = { fired: false };
    let set = this.watchers.get(key);
    if (!set) this.watchers.set(key, (set = new Set()));
    set.add(w);
    return {
      wait: (ms) =>
        new Promise<boolean>((resolve) => {
          if (w.fired || this.stopping) {
            w.fired = false;
            return resolve(true);
          }
          const timer = setTimeout(() => {
            w.wake = undefined;
            resolve(false);
          }, Math.max(0, ms));
          w.wake = () => {
            clearTimeout(timer);
            w.wake = undefined;
            w.fired = false;
            resolve(true);
          };
        }),
      close: () => {
        w.wake?.();
        set.delete(w);
        if (set.size === 0) this.watchers.delete(key);
      },
    };
  }

  private notify(key: string): void {
    for (const w of this.watchers.get(key) ?? []) {
      w.fired = true;
      w.wake?.();
    }
  }

  private async listen(onReady: () => void): Promise<void> {
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
        onReady();
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
