import { ApiError } from './client.js';
import { collectMatching, runEach, tally as tallyKinds, type ListFilters, type ListPage, type RunOptions, type Skipped } from './bulk.js';

export type { ListFilters, ListPage } from './bulk.js';

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
  | Skipped;

export type OutcomeKind = Outcome['kind'];

const KINDS: readonly OutcomeKind[] = ['canceled', 'requested', 'finished', 'forbidden', 'gone', 'error', 'skipped'];
const CANCELABLE: readonly CancelableStatus[] = ['pending', 'running'];
const isCancelable = (s: string | undefined): s is CancelableStatus => (CANCELABLE as readonly string[]).includes(s ?? '');

/**
 * Every cancelable task matching the filters, for the count preview: only the pending and the running ones are asked
 * for (a terminal status filter matches nothing to cancel and asks nothing). A task that moved from pending to
 * running between the two listings is counted once, as running.
 */
export async function collectCancelable(
  filters: ListFilters,
  list: (query: ListFilters & { cursor?: string; limit: number }) => Promise<ListPage<{ id: string; name: string; status: string }>>,
  opts: { cap?: number; signal?: AbortSignal } = {},
): Promise<{ items: Cancelable[]; truncated: boolean }> {
  const statuses = filters.status === undefined ? CANCELABLE : isCancelable(filters.status) ? [filters.status] : [];
  const found = await collectMatching(filters, statuses, list, opts);
  return { items: found.items.map((t) => ({ id: t.id, name: t.name, status: t.status as CancelableStatus })), truncated: found.truncated };
}

/** What a cancel answered, as the summary counts it. */
export function outcomeOf(answer: { ok: true; value: { status: string } } | { ok: false; error: unknown }): Exclude<Outcome, Skipped> {
  if (answer.ok) return answer.value.status === 'canceled' ? { kind: 'canceled' } : { kind: 'requested' };
  const err = answer.error;
  if (err instanceof ApiError) {
    if (err.status === 409 && err.code === 'CONFLICT') return { kind: 'finished', error: err };
    if (err.status === 403) return { kind: 'forbidden', error: err };
    if (err.status === 404) return { kind: 'gone', error: err };
  }
  return { kind: 'error', error: err };
}

export const idempotencyKeyOf = (runId: string, taskId: string): string => `console-cancel:${runId}:${taskId}`;

/** Cancels each task, a few at a time (`runEach`: a 401 ends the run, Stop starts no other, transient answers retried). */
export function cancelAll(
  tasks: readonly Cancelable[],
  cancel: (id: string, idempotencyKey: string) => Promise<{ status: string }>,
  opts: RunOptions<Outcome>,
): Promise<{ outcomes: Map<string, Outcome>; sessionEnded?: ApiError }> {
  return runEach(tasks, (t, key) => cancel(t.id, key), outcomeOf, (runId, t) => idempotencyKeyOf(runId, t.id), opts);
}

/** How many of each outcome, in the order the summary shows them. */
export const tally = (outcomes: Iterable<Outcome>): Record<OutcomeKind, number> => tallyKinds(KINDS, outcomes);
