import { useState } from 'react';
import { useMutation } from '@tanstack/react-query';
import { api, unwrap } from '../api/client.js';
import { randomId } from '../api/ids.js';
import type { paths } from '../api/schema.js';
import { ConfirmDialog } from './ConfirmDialog.js';
import { ErrorBanner } from './states.js';

type Task = paths['/v1/tasks/{id}']['get']['responses'][200]['content']['application/json'];

/** What deleting a task does to it, by its status: said before the operator confirms. */
export function deleteConsequence(status: Task['status']): string {
  switch (status) {
    case 'pending':
      return 'The task is pending: no worker will run it.';
    case 'running':
      return 'The task is running: its worker keeps running until its next heartbeat is refused, and nothing it reports afterwards is kept. To let it stop cleanly, cancel the task instead.';
    default:
      return `The task has ended (${status}): its result goes with it.`;
  }
}

/**
 * "Delete task" (`DELETE /v1/tasks/{id}`, which needs `delete` on the task): the row and its history go, and the events
 * stream keeps its last event, `deleted`, naming the caller. One key per dialog: a retry after a lost answer gets the
 * stored 204, never a NOT_FOUND for the task this dialog has just deleted.
 */
export function DeleteTaskDialog({ task, onClose, onDeleted }: { task: Task; onClose: () => void; onDeleted: () => void }) {
  const [key] = useState(() => `console-delete:${randomId()}`);
  const remove = useMutation({
    mutationFn: () => unwrap(api.DELETE('/v1/tasks/{id}', { params: { path: { id: task.id }, header: { 'Idempotency-Key': key } } })),
    onSuccess: onDeleted,
  });
  return (
    <ConfirmDialog open title={`Delete task ${task.name}?`} confirmLabel="Yes, delete the task" busy={remove.isPending} onConfirm={() => remove.mutate()} onCancel={onClose}>
      <p>{deleteConsequence(task.status)}</p>
      <p>
        Its record and history are removed and cannot be brought back. The events stream keeps one last <code>task_updated</code> event,
        <code>deleted</code>, with your name.
      </p>
      {remove.isError && <ErrorBanner error={remove.error} />}
    </ConfirmDialog>
  );
}
