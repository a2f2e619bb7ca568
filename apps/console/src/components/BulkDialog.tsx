import { useRef, useState, type ReactNode } from 'react';
import { useMutation } from '@tanstack/react-query';
import { Link } from '@tanstack/react-router';
import { ApiError } from '../api/client.js';
import { randomId } from '../api/ids.js';
import { BULK_CAP, tally, type RunOptions, type Skipped } from '../api/bulk.js';
import { ConfirmDialog } from './ConfirmDialog.js';

export const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

type Outcome = { kind: string; error?: unknown };

/** An outcome's reason for a person: the API's code and message, and the request id to quote. */
export function reasonOf(o: Outcome): string {
  if (o.kind === 'skipped') return 'not attempted';
  const e = o.error;
  if (e === undefined) return o.kind;
  if (e instanceof ApiError) return `${e.code}: ${e.message}${e.requestId ? ` (request id ${e.requestId})` : ''}`;
  return e instanceof Error ? e.message : String(e);
}

/**
 * A bulk action's dialog: the count preview (what the action does to how many, and the tasks by name) before anything
 * is sent; then progress with Stop; then how many of each outcome, and each task the action did not reach named with
 * the API's reason.
 */
export function BulkDialog<O extends Outcome>(props: {
  tasks: Array<{ id: string; name: string; status: string }>;
  truncated: boolean;
  /** "cancel", "run again": the title asks "<Verb> N tasks?" */
  verb: string;
  /** What the action will do, by kind of task. */
  preview: ReactNode;
  run: (opts: Omit<RunOptions<O>, 'runId'> & { runId: string }) => Promise<{ outcomes: Map<string, O | Skipped>; sessionEnded?: ApiError }>;
  /** The summary's lines, in order; a kind with no task is left out. */
  summary: Array<[O['kind'] | 'skipped', (n: number) => string]>;
  /** The outcomes that did what was asked; the others are listed with their reason. */
  done: ReadonlyArray<O['kind']>;
  /** The label of the table of tasks not reached, e.g. "Tasks not canceled". */
  missed: string;
  onClose: (ran: boolean) => void;
  /** The run's id (its keys' stem), when the preview must name what it makes; else one of the dialog's own. */
  runId?: string;
}) {
  const { tasks } = props;
  const [ownRunId] = useState(() => randomId());
  const [outcomes, setOutcomes] = useState<ReadonlyMap<string, O | Skipped>>(new Map());
  const stop = useRef<AbortController | null>(null);
  const run = useMutation({
    mutationFn: async () => {
      stop.current = new AbortController();
      const result = await props.run({
        runId: props.runId ?? ownRunId,
        signal: stop.current.signal,
        onOutcome: (id, o) => setOutcomes((prev) => new Map(prev).set(id, o)),
      });
      // the session is over: the router's error handler signs out and remembers this page
      if (result.sessionEnded) throw result.sessionEnded;
      return result.outcomes;
    },
  });
  const phase = run.isIdle ? 'preview' : run.isPending ? 'running' : 'done';
  const counts = tally(
    props.summary.map(([kind]) => kind),
    outcomes.values(),
  );
  const missed = tasks.flatMap((t) => {
    const o = outcomes.get(t.id);
    return o !== undefined && !(props.done as readonly string[]).includes(o.kind) ? [{ task: t, outcome: o }] : [];
  });
  const close = () => props.onClose(phase !== 'preview');
  const Verb = props.verb.charAt(0).toUpperCase() + props.verb.slice(1);
  const title =
    tasks.length === 0 ? `Nothing to ${props.verb}` : phase === 'preview' ? `${Verb} ${plural(tasks.length, 'task')}?` : phase === 'running' ? `${Verb}: ${plural(tasks.length, 'task')}…` : `${Verb}: finished`;
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
      confirmLabel={`Yes, ${props.verb} ${plural(tasks.length, 'task')}`}
      busy={tasks.length === 0}
      onConfirm={() => run.mutate()}
      onCancel={phase === 'running' ? () => stop.current?.abort() : close}
      actions={actions}
    >
      {phase === 'preview' && tasks.length === 0 && <p role="status">No task here matches: there is nothing to {props.verb}.</p>}
      {phase === 'preview' && tasks.length > 0 && (
        <>
          {props.preview}
          {props.truncated && (
            <p role="note">
              More than {BULK_CAP.toLocaleString()} tasks match: this takes the first {BULK_CAP.toLocaleString()}. Run it again for the rest.
            </p>
          )}
          <p className="muted">Each task gets its own request, so only what you may do one by one is done; the others are listed at the end.</p>
          <details>
            <summary>The tasks</summary>
            <ul aria-label="The tasks">
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
            <progress max={tasks.length} value={outcomes.size} aria-label="Progress" /> {outcomes.size.toLocaleString()} of{' '}
            {tasks.length.toLocaleString()} done
          </p>
          <ul aria-label="Summary">
            {props.summary
              .filter(([kind]) => (counts[kind] ?? 0) > 0)
              .map(([kind, text]) => (
                <li key={kind} data-outcome={kind}>
                  {text(counts[kind] ?? 0)}
                </li>
              ))}
          </ul>
          {missed.length > 0 && (
            <table aria-label={props.missed}>
              <thead>
                <tr>
                  <th scope="col">task</th>
                  <th scope="col">why</th>
                </tr>
              </thead>
              <tbody>
                {missed.map(({ task: t, outcome }) => (
                  <tr key={t.id} data-outcome={outcome.kind}>
                    <td>
                      <Link to="/tasks/$taskId" params={{ taskId: t.id }}>
                        {t.name}
                      </Link>
                    </td>
                    <td>{reasonOf(outcome)}</td>
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
