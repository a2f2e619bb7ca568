import { ApiError } from './client.js';

/**
 * Bulk cancel (the console's most asked-for missing action: trigger.dev #523, #1109, #2264) through the API's own
 * door: one `POST /v1/tasks/{id}/cancel` per task, so every task's `cancel` permission is checked as for a single
 * cancel, and nothing is cancelled that the caller could not cancel one by one.
 */

export type CancelableStatus = 'pending' | 'running';

/** A task the operator chose, with the status the list showed (the count preview says what cancel does to each). */
export interface Cancelable {
  id: string;
  name: string;
  status: CancelableStatus;
}

export type Outcome =
  /** was pending: canceled at once, no worker runs it */
  | { kind: 'canceled' }
  /** was running: its worker is told at its next heartbeat */
  | { kind: 'requested' }
  /** 409: it ended before the cancel reached it */
  | { kind: 'finished'; error: ApiError }
  /** 403: readable but not cancellable by this caller */
  | { kind: 'forbidden'; error: ApiError }
  /** 404: deleted meanwhile, or no longer readable */
  | { kind: 'gone'; error: ApiError }
  | { kind: 'error'; error: unknown }
  /** not attempted: the operator stopped the run, or the session ended */
  | { kind: 'skipped' };

export type OutcomeKind = Outcome['kind'];

/** The most tasks one run cancels; the preview says when more match. */
export const BULK_CAP = 1000;

const isCancelable = (s: string): s is CancelableStatus => s === 'pending' || s === 'running';

export interface ListPage {
  items: Array<{ id: string; name: string; status: string }>;
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
 * Every cancelable task matching the filters, for the count preview: `GET /v1/tasks` page by page, asking only for
 * the pending and the running ones (a terminal status filter matches nothing to cancel). At most `cap`;
 * `truncated` says that more matched.
 */
export async function collectCancelable(
  filters: ListFilters,
  list: (query: ListFilters & { cursor?: string; limit: number }) => Promise<ListPage>,
  opts: { cap?: number; signal?: AbortSignal } = {},
): Promise<{ items: Cancelable[]; truncated: boolean }> {
  const cap = opts.cap ?? BULK_CAP;
  const statuses: CancelableStatus[] = filters.status === undefined ? ['pending', 'running'] : isCancelable(filters.status) ? [filters.status] : [];
  const found = new Map<string, Cancelable>();
  for (const status of statuses) {
    let cursor: string | undefined;
    do {
      opts.signal?.throwIfAborted();
      const page = await list({ ...filters, status, cursor, limit: 100 });
      for (const t of page.items) {
        // a task that moved from pending to running between the two listings is counted once, as running
        if (!isCancelable(t.status)) continue;
        if (!found.has(t.id) && found.size >= cap) return { items: [...found.values()], truncated: true };
        found.set(t.id, { id: t.id, name: t.name, status: t.status });
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }
  return { items: [...found.values()], truncated: false };
}

/** What a cancel answered, as the summary counts it. */
export function outcomeOf(answer: { status: string } | unknown, isError: boolean): Outcome {
  if (!isError) return (answer as { status: string }).status === 'canceled' ? { kind: 'canceled' } : { kind: 'requested' };
  if (answer instanceof ApiError) {
    if (answer.status === 409 && answer.code === 'CONFLICT') return { kind: 'finished', error: answer };
    if (answer.status === 403) return { kind: 'forbidden', error: answer };
    if (answer.status === 404) return { kind: 'gone', error: answer };
  }
  return { kind: 'error', error: answer };
}

/** Worth asking again under the same idempotency key: the network, a 503, or the same key still in flight. */
const isTransient = (err: unknown): boolean =>
  err instanceof ApiError && (err.status === 0 || err.status === 503 || err.code === 'IDEMPOTENCY_IN_PROGRESS');

export interface RunOptions {
  /** One key per task of this run: a retry after a lost answer is answered by the first cancel, not a second one. */
  runId: string;
  concurrency?: number;
  signal?: AbortSignal;
  /** Transient failures are tried again this many times, with the same key. */
  retries?: number;
  retryDelayMs?: number;
  onOutcome?: (id: string, outcome: Outcome) => void;
}

export const idempotencyKeyOf = (runId: string, taskId: string): string => `console-cancel:${runId}:${taskId}`;

/**
 * Cancels each task, a few at a time. A 401 ends the run (the session is over): the rest are skipped and the error is
 * returned in `sessionEnded` for the caller to sign out with. Stopping (the signal) skips what has not started.
 */
export async function cancelAll(
  tasks: readonly Cancelable[],
  cancel: (id: string, idempotencyKey: string) => Promise<{ status: string }>,
  opts: RunOptions,
): Promise<{ outcomes: Map<string, Outcome>; sessionEnded?: ApiError }> {
  const outcomes = new Map<string, Outcome>();
  const retries = opts.retries ?? 2;
  let sessionEnded: ApiError | undefined;
  let next = 0;
  const record = (id: string, o: Outcome) => {
    outcomes.set(id, o);
    opts.onOutcome?.(id, o);
  };
  const one = async (t: Cancelable): Promise<void> => {
    const key = idempotencyKeyOf(opts.runId, t.id);
    for (let attempt = 0; ; attempt++) {
      try {
        record(t.id, outcomeOf(await cancel(t.id, key), false));
        return;
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          sessionEnded ??= err;
          record(t.id, { kind: 'skipped' });
          return;
        }
        if (attempt < retries && isTransient(err) && !opts.signal?.aborted) {
          await new Promise((r) => setTimeout(r, (opts.retryDelayMs ?? 300) * 2 ** attempt));
          continue;
        }
        record(t.id, outcomeOf(err, true));
        return;
      }
    }
  };
  const worker = async () => {
    for (let t = tasks[next++]; t && !sessionEnded && !opts.signal?.aborted; t = tasks[next++]) await one(t);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 4, tasks.length)) }, worker));
  for (const t of tasks) if (!outcomes.has(t.id)) record(t.id, { kind: 'skipped' });
  return { outcomes, sessionEnded };
}

/** How many of each outcome, in the order the summary shows them. */
export function tally(outcomes: Iterable<Outcome>): Record<OutcomeKind, number> {
  const counts: Record<OutcomeKind, number> = { canceled: 0, requested: 0, finished: 0, forbidden: 0, gone: 0, error: 0, skipped: 0 };
  for (const o of outcomes) counts[o.kind]++;
  return counts;
}
