import { useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate } from '@tanstack/react-router';
import { api, unwrap } from '../api/client.js';
import { randomId } from '../api/ids.js';
import { rerunName, rerunRequest } from '../api/rerun.js';
import { invalidateTaskViews } from '../api/task-views.js';
import type { paths } from '../api/schema.js';
import { ConfirmDialog } from './ConfirmDialog.js';
import { ErrorBanner } from './states.js';

type Task = paths['/v1/tasks/{id}']['get']['responses'][200]['content']['application/json'];

/**
 * "Run again" for an ended task: a new task with the same agent, params, priority, attempts, timeouts and retry policy,
 * under a name the operator can change. The dialog shows what is copied before anything is created; one key per
 * dialog makes a click twice (or a retry after a lost answer) one task.
 */
export function RunAgainDialog({ task, onClose }: { task: Task; onClose: () => void }) {
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [name, setName] = useState(() => rerunName(task.name, randomId().slice(0, 6)));
  // one key per dialog: a double click, or a retry after a lost answer, makes one task, even under an edited name (the
  // API answers IDEMPOTENCY_MISMATCH rather than make a second); a refused create (a taken name) stores nothing
  const [key] = useState(() => `console-rerun:${randomId()}`);
  const body = rerunRequest(task, name.trim());
  const create = useMutation({
    mutationFn: () => unwrap(api.POST('/v1/tasks', { body, params: { header: { 'Idempotency-Key': key } } })),
    onSuccess: (created) => {
      // a new pending task: the lists and its agent's queue counts have one more
      invalidateTaskViews(qc);
      onClose();
      void navigate({ to: '/tasks/$taskId', params: { taskId: created.id } });
    },
  });
  return (
    <ConfirmDialog open title={`Run ${task.name} again?`} confirmLabel="Create the new task" busy={create.isPending || name.trim() === ''} onConfirm={() => create.mutate()} onCancel={onClose}>
      <p>A new task is created and queued now; this one keeps its history.</p>
      <label className="field">
        Name of the new task
        <input name="rerun-name" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />
      </label>
      <dl className="fields" aria-label="Copied from this task">
        <dt>agent</dt>
        <dd>
          <code>{body.agentId}</code>
        </dd>
        <dt>params</dt>
        <dd>
          <code>{JSON.stringify(body.params)}</code>
        </dd>
        <dt>priority</dt>
        <dd>{body.priority}</dd>
        <dt>attempts</dt>
        <dd>up to {body.maxAttempts}</dd>
        <dt>timeouts</dt>
        <dd>
          heartbeat {body.heartbeatTimeoutSeconds} s, attempt {body.timeoutSeconds} s
        </dd>
        <dt>retry</dt>
        <dd>
          from {body.retry?.initialIntervalMs} ms, × {body.retry?.backoffCoefficient}, at most {body.retry?.maximumIntervalMs} ms
        </dd>
      </dl>
      {create.isError && <ErrorBanner error={create.error} />}
    </ConfirmDialog>
  );
}
