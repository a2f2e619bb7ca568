import { api, unwrap } from '../api/client.js';
import { cancelAll, type Cancelable, type Outcome } from '../api/bulk-cancel.js';
import { BulkDialog, plural } from './BulkDialog.js';

type Cancel = (id: string, idempotencyKey: string) => Promise<{ status: string }>;

const cancelThroughApi: Cancel = (id, key) =>
  unwrap(api.POST('/v1/tasks/{id}/cancel', { params: { path: { id }, header: { 'Idempotency-Key': key } } }));

/**
 * Cancel many tasks: the count preview says how many are pending (canceled at once) and how many running (told at
 * the next heartbeat); then one cancel per task; then what happened to each.
 */
export function BulkCancelDialog(props: { tasks: Cancelable[]; truncated: boolean; onClose: (ran: boolean) => void }) {
  const pending = props.tasks.filter((t) => t.status === 'pending').length;
  const running = props.tasks.length - pending;
  return (
    <BulkDialog<Outcome>
      tasks={props.tasks}
      truncated={props.truncated}
      verb="cancel"
      preview={
        <ul aria-label="What cancel does">
          {pending > 0 && <li data-count="pending">{plural(pending, 'pending task')}: canceled at once; no worker will run them.</li>}
          {running > 0 && (
            <li data-count="running">
              {plural(running, 'running task')}: each worker is told at its next heartbeat, and the task ends canceled when it stops.
            </li>
          )}
        </ul>
      }
      run={(opts) => cancelAll(props.tasks, cancelThroughApi, opts)}
      summary={[
        ['canceled', (n) => `${plural(n, 'pending task')} canceled: no worker runs them`],
        ['requested', (n) => `${plural(n, 'running task')} asked to stop: each worker is told at its next heartbeat`],
        ['finished', (n) => `${plural(n, 'task')} had already ended`],
        ['forbidden', (n) => `${plural(n, 'task')} you may read but not cancel`],
        ['gone', (n) => `${plural(n, 'task')} no longer found`],
        ['error', (n) => `${plural(n, 'cancel')} failed`],
        ['skipped', (n) => `${plural(n, 'task')} not attempted`],
      ]}
      done={['canceled', 'requested']}
      missed="Tasks not canceled"
      onClose={props.onClose}
    />
  );
}
