import type { paths } from './schema.js';

export type Task = paths['/v1/tasks/{id}']['get']['responses'][200]['content']['application/json'];
export type CreateTaskBody = NonNullable<paths['/v1/tasks']['post']['requestBody']>['content']['application/json'];

/** A task name's most UTF-16 code units (the contract's `Name`). */
export const NAME_MAX = 200;

/**
 * The name a re-run is offered: the task's own with `-rerun-<suffix>`, the head cut (at a code point, never inside a
 * surrogate pair, and with no white space left at its end) so the whole stays within the contract's 200.
 */
export function rerunName(name: string, suffix: string): string {
  const tail = `-rerun-${suffix}`;
  let head = '';
  for (const ch of name) {
    if (head.length + ch.length > NAME_MAX - tail.length) break;
    head += ch;
  }
  return `${head.trimEnd()}${tail}`.normalize('NFC');
}

/**
 * "Run again" makes a new task (Trigger.dev's replay): the same agent, params, priority, attempts, timeouts and retry
 * policy under a new name, created through `POST /v1/tasks` like any other, so it needs `write` on the agent. Not
 * copied: its schedule (`runAfter`: a re-run is wanted now) and everything its runs produced.
 */
export function rerunRequest(task: Task, name: string): CreateTaskBody {
  return {
    agentId: task.agentId,
    name,
    params: task.params,
    priority: task.priority,
    maxAttempts: task.maxAttempts,
    heartbeatTimeoutSeconds: task.heartbeatTimeoutSeconds,
    timeoutSeconds: task.timeoutSeconds,
    retry: task.retry,
  };
}
