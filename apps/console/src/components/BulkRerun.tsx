import { useState } from 'react';
import { api, unwrap } from '../api/client.js';
import { randomId } from '../api/ids.js';
import { bulkRerunName, rerunAll, type RerunOutcome } from '../api/bulk-rerun.js';
import type { CreateTaskBody, Task } from '../api/rerun.js';
import { BulkDialog, plural } from './BulkDialog.js';

const createThroughApi = (body: CreateTaskBody, key: string) => unwrap(api.POST('/v1/tasks', { body, params: { header: { 'Idempotency-Key': key } } }));

/**
 * Run many ended tasks again: the count preview says how many new tasks are made and how they are named; then one
 * create per task; then what happened to each.
 */
export function BulkRerunDialog(props: { tasks: Task[]; truncated: boolean; status: string; onClose: (ran: boolean) => void }) {
  const [runId] = useState(() => randomId());
  const example = props.tasks[0];
  return (
    <BulkDialog<RerunOutcome>
      tasks={props.tasks}
      truncated={props.truncated}
      verb="run again"
      runId={runId}
      preview={
        <ul aria-label="What run again does">
          <li data-count={props.status}>
            {plural(props.tasks.length, `${props.status} task`)}: each becomes a new pending task with its agent, params, priority, attempts,
            timeouts and retry policy. The {props.status} ones keep their history.
          </li>
          {example && (
            <li>
              Each is named after its task with this run&apos;s suffix: <code>{example.name}</code> → <code>{bulkRerunName(runId, example.name)}</code>.
            </li>
          )}
        </ul>
      }
      run={(opts) => rerunAll(props.tasks, createThroughApi, opts)}
      summary={[
        ['created', (n) => `${plural(n, 'new task')} created`],
        ['forbidden', (n) => `${plural(n, 'task')} on an agent you may not create tasks on`],
        ['taken', (n) => `${plural(n, 'task')} whose new name is taken`],
        ['gone', (n) => `${plural(n, 'task')} whose agent is gone`],
        ['error', (n) => `${plural(n, 'create')} failed`],
        ['skipped', (n) => `${plural(n, 'task')} not attempted`],
      ]}
      done={['created']}
      missed="Tasks not run again"
      onClose={props.onClose}
    />
  );
}
