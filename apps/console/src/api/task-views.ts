import type { QueryClient } from '@tanstack/react-query';

/**
 * After a write that changes tasks (a cancel, a delete, a run again, a bulk run of either): the views that list or
 * count tasks are read again, the task lists and the agents' queue counts, and so is each changed task's own page
 * (`'all'`: every task page cached, for a bulk run). A view not on screen is read when it is next shown.
 */
export function invalidateTaskViews(qc: QueryClient, changed: readonly string[] | 'all' = []): void {
  void qc.invalidateQueries({ queryKey: ['tasks'] });
  void qc.invalidateQueries({ queryKey: ['agent-stats'] });
  if (changed === 'all') void qc.invalidateQueries({ queryKey: ['task'] });
  else for (const id of changed) void qc.invalidateQueries({ queryKey: ['task', id] });
}
