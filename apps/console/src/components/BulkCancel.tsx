import { useRef, useState } from 'react';
import { useMutation } from '@tanstack/react-query';
import { Link } from '@tanstack/react-router';
import { api, ApiError, unwrap } from '../api/client.js';
import { BULK_CAP, cancelAll, tally, type Cancelable, type Outcome, type OutcomeKind } from '../api/bulk-cancel.js';
import { ConfirmDialog } from './ConfirmDialog.js';

type Cancel = (id: string, idempotencyKey: string) => Promise<{ status: string }>;

const cancelThroughApi: Cancel = (id, key) =>
  unwrap(api.POST('/v1/tasks/{id}/cancel', { params: { path: { id }, header: { 'Idempotency-Key': key } } }));

const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

/** The summary's lines, in order; a kind with no task is left out. */
const SUMMARY: Array<[OutcomeKind, (n: number) => string]> = [
  ['canceled', (n) => `${plural(n, 'pending task')} canceled: no worker runs them`],
  ['requested', (n) => `${plural(n, 'running task')} asked to stop: each worker is told at its next heartbeat`],
  ['finished', (n) => `${plural(n, 'task')} had already ended`],
  ['forbidden', (n) => `${plural(n, 'task')} you may read but not cancel`],
  ['gone', (n) => `${plural(n, 'task')} no longer found`],
  ['error', (n) => `${plural(n, 'cancel')} failed`],
  ['skipped', (n) => `${plural(n, 'task')} not attempted`],
];

function reason(o: Outcome): string {
  if (o.kind === 'skipped') return 'not attempted';
  if (!('error' in o)) return o.kind;
  const e = o.error;
  if (e instanceof ApiError) return `${e.code}: ${e.message}${e.requestId ? ` (request id ${e.requestId})` : ''}`;
  return e instanceof Error ? e.message : String(e);
}

/**
 * Cancel many tasks: a count preview (how many are pending, how many running, and what cancel does to each), then one
 * cancel per task with progress and a Stop button, then what happened to each, the tasks that were not canceled
 * named with the API's reason.
 */
export function BulkCancelDialog(props: { tasks: Cancelable[]; truncated: boolean; onClose: (ran: boolean) => void; cancel?: Cancel }) {
  const { tasks } = props;
  const [outcomes, setOutcomes] = useState<ReadonlyMap<string, Outcome>>(new Map());
  const stop = useRef<AbortController | null>(null);
  const run = useMutation({
    mutationFn: async () => {
      stop.current = new AbortController();
      const result = await cancelAll(tasks, props.cancel ?? cancelThroughApi, {
        runId: crypto.randomUUID(),
        signal: stop.current.signal,
        onOutcome: (id, o) => setOutcomes((prev) => new Map(prev).set(id, o)),
      });
      // the session is over: the router's error handler signs out and remembers this page
      if (result.sessionEnded) throw result.sessionEnded;
      return result.outcomes;
    },
  });
  const pending = tasks.filter((t) => t.status === 'pending').length;
  const running = tasks.length - pending;
  const phase = run.isIdle ? 'preview' : run.isPending ? 'running' : 'done';
  const counts = tally(outcomes.values());
  const notCanceled = tasks.flatMap((t) => {
    const o = outcomes.get(t.id);
    return o !== undefined && o.kind !== 'canceled' && o.kind !== 'requested' ? [{ task: t, outcome: o }] : [];
  });
  const close = () => props.onClose(phase !== 'preview');
  const title = tasks.length === 0 ? 'Nothing to cancel' : phase === 'preview' ? `Cancel ${plural(tasks.length, 'task')}?` : phase === 'running' ? `Canceling ${plural(tasks.length, 'task')}…` : 'Bulk cancel finished';
  const actions =
    phase === 'running' ? (
      <button type="button" onClick={() => stop.current?.abort()}>
        Stop
      </button>
    ) : phase === 'done' ? (
      <button type="button" className="primary" onClick={close}>
        Close
      </button>
    ) : undefined;
  return (
    <ConfirmDialog
      open
      title={title}
      confirmLabel={`Yes, cancel ${plural(tasks.length, 'task')}`}
      busy={tasks.length === 0}
      onConfirm={() => run.mutate()}
      onCancel={phase === 'running' ? () => stop.current?.abort() : close}
      actions={actions}
    >
      {phase === 'preview' && tasks.length === 0 && <p role="status">No task here can be canceled: none is pending or running.</p>}
      {phase === 'preview' && tasks.length > 0 && (
        <>
          <ul aria-label="What cancel does">
            {pending > 0 && <li data-count="pending">{plural(pending, 'pending task')}: canceled at once; no worker will run them.</li>}
            {running > 0 && (
              <li data-count="running">
                {plural(running, 'running task')}: each worker is told at its next heartbeat, and the task ends canceled when it stops.
              </li>
            )}
          </ul>
          {props.truncated && (
            <p role="note">
              More than {BULK_CAP.toLocaleString()} tasks match: this cancels the first {BULK_CAP.toLocaleString()}. Run it again for the rest.
            </p>
          )}
          <p className="muted">
            Each task is canceled with its own request, so only tasks you may cancel are; the others are listed at the end.
          </p>
          <details>
            <summary>The tasks</summary>
            <ul aria-label="Tasks to cancel">
              {tasks.map((t) => (
                <li key={t.id}>
                  {t.name} <span className="muted">({t.status})</span>
                </li>
              ))}
            </ul>
          </details>
        </>
      )}
      {phase !== 'preview' && (
        <>
          <p role="status" aria-live="polite">
            <progress max={tasks.length} value={outcomes.size} aria-label="Cancel progress" /> {outcomes.size.toLocaleString()} of{' '}
            {tasks.length.toLocaleString()} done
          </p>
          <ul aria-label="Bulk cancel summary">
            {SUMMARY.filter(([kind]) => counts[kind] > 0).map(([kind, text]) => (
              <li key={kind} data-outcome={kind}>
                {text(counts[kind])}
              </li>
            ))}
          </ul>
          {notCanceled.length > 0 && (
            <table aria-label="Tasks not canceled">
              <thead>
                <tr>
                  <th scope="col">task</th>
                  <th scope="col">why</th>
                </tr>
              </thead>
              <tbody>
                {notCanceled.map(({ task: t, outcome }) => (
                  <tr key={t.id} data-outcome={outcome.kind}>
                    <td>
                      <Link to="/tasks/$taskId" params={{ taskId: t.id }}>
                        {t.name}
                      </Link>
                    </td>
                    <td>{reason(outcome)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </ConfirmDialog>
  );
}
