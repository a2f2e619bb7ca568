import { ApiError } from './client.js';
import { collectMatching, runEach, type ListFilters, type ListPage, type RunOptions, type Skipped } from './bulk.js';
import { rerunName, rerunRequest, type CreateTaskBody, type Task } from './rerun.js';

/**
 * Run again in bulk (Trigger.dev's bulk replay): every ended task of one status that matches the filters becomes a new
 * task, each through its own `POST /v1/tasks` (`write` on its agent, checked per task) under its own key.
 */

export const RERUNNABLE = ['failed', 'canceled', 'completed'] as const;
export const isRerunnable = (s: string | undefined): s is (typeof RERUNNABLE)[number] => (RERUNNABLE as readonly string[]).includes(s ?? '');

export type RerunOutcome =
  /** the new task */
  | { kind: 'created'; taskId: string }
  /** 403: the caller may not create tasks on that agent */
  | { kind: 'forbidden'; error: ApiError }
  /** 409: a task of the new name exists */
  | { kind: 'taken'; error: ApiError }
  /** 404: the agent is gone */
  | { kind: 'gone'; error: ApiError }
  | { kind: 'error'; error: unknown }
  | Skipped;

/** The tasks to run again: those of the filter's status (an ended one), all pages, at most the cap; none without one. */
export function collectRerunnable(
  filters: ListFilters,
  list: (query: ListFilters & { cursor?: string; limit: number }) => Promise<ListPage<Task>>,
  opts: { cap?: number; signal?: AbortSignal } = {},
): Promise<{ items: Task[]; truncated: boolean }> {
  return collectMatching(filters, isRerunnable(filters.status) ? [filters.status] : [], list, opts);
}

export function rerunOutcomeOf(answer: { ok: true; value: { id: string } } | { ok: false; error: unknown }): Exclude<RerunOutcome, Skipped> {
  if (answer.ok) return { kind: 'created', taskId: answer.value.id };
  const err = answer.error;
  if (err instanceof ApiError) {
    if (err.status === 403) return { kind: 'forbidden', error: err };
    if (err.status === 409 && err.code === 'CONFLICT') return { kind: 'taken', error: err };
    if (err.status === 404) return { kind: 'gone', error: err };
  }
  return { kind: 'error', error: err };
}

/** The name each new task gets: its task's, with the run's suffix (one run, one suffix: its new tasks read as a set). */
export const bulkRerunName = (runId: string, name: string): string => rerunName(name, runId.slice(0, 6));

export function rerunAll(
  tasks: readonly Task[],
  create: (body: CreateTaskBody, idempotencyKey: string) => Promise<{ id: string }>,
  opts: RunOptions<RerunOutcome>,
): Promise<{ outcomes: Map<string, RerunOutcome>; sessionEnded?: ApiError }> {
  return runEach(
    tasks,
    (t, key) => create(rerunRequest(t, bulkRerunName(opts.runId, t.name)), key),
    rerunOutcomeOf,
    (runId, t) => `console-rerun:${runId}:${t.id}`,
    opts,
  );
}
