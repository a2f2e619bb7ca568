import { ApiError } from './client.js';
import { pagesOf } from './pages.js';

/**
 * The console's bulk actions (cancel, run again) through the API's own door: one request per task, a few at a time,
 * each under its own idempotency key, so every task's permission is checked as for a single action and a retry after
 * a lost answer is answered by the first request, not made twice.
 */

/** Not attempted: the operator stopped the run, or the session ended. */
export type Skipped = { kind: 'skipped' };

/** The most tasks one bulk action takes; its preview says when more match. */
export const BULK_CAP = 1000;

export interface ListPage<T = { id: string; name: string; status: string }> {
  items: T[];
  nextCursor?: string | null;
}

/** The list filters of the tasks page, as `GET /v1/tasks` takes them. */
export interface ListFilters {
  agentId?: string;
  status?: string;
  creatorUserId?: string;
  creatorServiceAccountId?: string;
}

/**
 * Every task of the given statuses that matches the filters, for a count preview: `GET /v1/tasks` page by page, one
 * status after another (each asked with the filters), each task once (the last status it was seen in wins: a task
 * that moved on between two listings is counted as it is now). At most `cap`; `truncated` says more matched.
 */
export async function collectMatching<T extends { id: string; status: string }>(
  filters: ListFilters,
  statuses: readonly string[],
  list: (query: ListFilters & { cursor?: string; limit: number }) => Promise<ListPage<T>>,
  opts: { cap?: number; signal?: AbortSignal } = {},
): Promise<{ items: T[]; truncated: boolean }> {
  const cap = opts.cap ?? BULK_CAP;
  const found = new Map<string, T>();
  for (const status of statuses) {
    const pages = pagesOf((cursor) => {
      opts.signal?.throwIfAborted();
      return list({ ...filters, status, cursor, limit: 100 });
    });
    for await (const page of pages) {
      for (const t of page.items) {
        if (!statuses.includes(t.status)) continue;
        if (!found.has(t.id) && found.size >= cap) return { items: [...found.values()], truncated: true };
        found.set(t.id, t);
      }
    }
  }
  return { items: [...found.values()], truncated: false };
}

/** Worth asking again under the same idempotency key: the network, a 503, or the same key still in flight. */
export const isTransient = (err: unknown): boolean =>
  err instanceof ApiError && (err.status === 0 || err.status === 503 || err.code === 'IDEMPOTENCY_IN_PROGRESS');

export interface RunOptions<O> {
  /** One key per task of this run: a retry after a lost answer is answered by the first request, not a second one. */
  runId: string;
  concurrency?: number;
  signal?: AbortSignal;
  /** Transient failures are tried again this many times, with the same key. */
  retries?: number;
  retryDelayMs?: number;
  onOutcome?: (id: string, outcome: O | Skipped) => void;
}

/**
 * Runs `call` for each item, `concurrency` at a time, and says what each answer meant (`classify`). A 401 ends the
 * run (the session is over): the rest are skipped and the error is handed back in `sessionEnded` for the caller to
 * sign out with. Stopping (the signal) lets the requests in flight finish and starts no other.
 */
export async function runEach<T extends { id: string }, R, O>(
  items: readonly T[],
  call: (item: T, idempotencyKey: string) => Promise<R>,
  classify: (answer: { ok: true; value: R } | { ok: false; error: unknown }) => O,
  keyOf: (runId: string, item: T) => string,
  opts: RunOptions<O>,
): Promise<{ outcomes: Map<string, O | Skipped>; sessionEnded?: ApiError }> {
  const outcomes = new Map<string, O | Skipped>();
  const retries = opts.retries ?? 2;
  let sessionEnded: ApiError | undefined;
  let next = 0;
  const record = (id: string, o: O | Skipped) => {
    outcomes.set(id, o);
    opts.onOutcome?.(id, o);
  };
  const one = async (item: T): Promise<void> => {
    const key = keyOf(opts.runId, item);
    for (let attempt = 0; ; attempt++) {
      try {
        record(item.id, classify({ ok: true, value: await call(item, key) }));
        return;
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) {
          sessionEnded ??= error;
          record(item.id, { kind: 'skipped' });
          return;
        }
        if (attempt < retries && isTransient(error) && !opts.signal?.aborted) {
          await new Promise((r) => setTimeout(r, (opts.retryDelayMs ?? 300) * 2 ** attempt));
          continue;
        }
        record(item.id, classify({ ok: false, error }));
        return;
      }
    }
  };
  const worker = async () => {
    for (let item = items[next++]; item && !sessionEnded && !opts.signal?.aborted; item = items[next++]) await one(item);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 4, items.length)) }, worker));
  for (const item of items) if (!outcomes.has(item.id)) record(item.id, { kind: 'skipped' });
  return { outcomes, sessionEnded };
}

/** How many of each outcome kind. */
export function tally<K extends string>(kinds: readonly K[], outcomes: Iterable<{ kind: K }>): Record<K, number> {
  const counts = Object.fromEntries(kinds.map((k) => [k, 0])) as Record<K, number>;
  for (const o of outcomes) counts[o.kind] = (counts[o.kind] ?? 0) + 1;
  return counts;
}
