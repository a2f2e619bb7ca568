import { useCallback, useEffect, useRef, useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { getRouteApi, Link } from '@tanstack/react-router';
import { ApiError, api, unwrap } from '../api/client.js';
import { followTaskEvents, readTaskEvents, TERMINAL, type StreamState, type TaskEvent } from '../api/task-events.js';
import { AgentName } from '../components/AgentName.js';
import { AttemptsTable } from '../components/Attempts.js';
import { attemptsOf } from '../api/task-attempts.js';
import { invalidateTaskViews } from '../api/task-views.js';
import { ConfirmDialog } from '../components/ConfirmDialog.js';
import { DeleteTaskDialog } from '../components/DeleteTask.js';
import { RunAgainDialog } from '../components/RunAgain.js';
import { StatusBadge } from '../components/StatusBadge.js';
import { ErrorBanner, QueryState } from '../components/states.js';

const route = getRouteApi('/app/tasks/$taskId');

const isTerminal = (status: string | undefined) => (TERMINAL as readonly string[]).includes(status ?? '');
/** A 4xx (the task deleted, or no longer readable): asking again every few seconds changes nothing. */
const refused = (err: unknown) => err instanceof ApiError && err.status >= 400 && err.status < 500;

/** Whether the attempts and timeline shown are the task's whole history so far. */
type History = 'complete' | 'loading' | 'failed';

export function TaskPage() {
  const { taskId } = route.useParams();
  const qc = useQueryClient();
  const [events, setEvents] = useState<TaskEvent[]>([]);
  const [stream, setStream] = useState<{ state: StreamState; detail?: string }>({ state: 'connecting' });
  const [confirming, setConfirming] = useState(false);
  const [rerunning, setRerunning] = useState(false);
  const [deleting, setDeleting] = useState(false);
  // once this page has deleted the task: what it was, for the page that says so (the task itself now reads 404)
  const [deleted, setDeleted] = useState<{ name: string; agentId: string } | null>(null);
  const target = useLinkedEvent(events);
  // who asked for the cancel its worker is to hear, from the history (the event names the caller)
  const cancelRequestedBy = [...events].reverse().find((e) => e.type === 'cancel_requested')?.data.by;
  const key = ['task', taskId];
  // the stream is not bringing events (retrying after an error, or given up): poll the task and read the history
  const streamDown = stream.state === 'reconnecting' || stream.state === 'failed';
  const query = useQuery({
    queryKey: key,
    queryFn: () => unwrap(api.GET('/v1/tasks/{id}', { params: { path: { id: taskId } } })),
    // the SSE stream drives updates; poll only when it cannot, and not a task that is gone
    refetchInterval: (q) => (streamDown && !isTerminal(q.state.data?.status) && !refused(q.state.error) ? 3_000 : false),
  });
  const merge = useCallback(
    (incoming: readonly TaskEvent[]) =>
      setEvents((prev) => {
        const fresh = incoming.filter((e) => !prev.some((p) => p.seq === e.seq));
        return fresh.length === 0 ? prev : [...prev, ...fresh].sort((a, b) => a.seq - b.seq);
      }),
    [],
  );
  const lastSeq = useRef(0);
  lastSeq.current = events.at(-1)?.seq ?? 0;
  const historyEnded = events.some((e) => isTerminal(e.type));
  // without the stream, the history comes as JSON pages after the last event known, until its terminal event
  const fallback = useQuery({
    queryKey: ['task-events', taskId],
    queryFn: () => readTaskEvents(taskId, lastSeq.current),
    enabled: streamDown,
    retry: false,
    gcTime: 0,
    refetchInterval: (q) => (streamDown && !refused(q.state.error) && !(historyEnded && q.state.status === 'success') ? 3_000 : false),
  });
  useEffect(() => {
    if (fallback.data) merge(fallback.data);
  }, [fallback.data, merge]);
  const history: History = streamDown
    ? fallback.isError
      ? 'failed'
      : fallback.isSuccess
        ? 'complete'
        : 'loading'
    : stream.state === 'connecting' && events.length === 0
      ? 'loading'
      : 'complete';
  useEffect(() => {
    setEvents([]);
    return followTaskEvents(
      taskId,
      (e) => {
        merge([e]);
        void qc.invalidateQueries({ queryKey: ['task', taskId] });
      },
      (state, detail) => {
        setStream({ state, detail });
        // the stream gave up (the task deleted, or the connection lost): read the task again for what is true now
        if (state === 'failed') void qc.invalidateQueries({ queryKey: ['task', taskId] });
      },
    );
  }, [taskId, qc, merge]);
  const cancel = useMutation({
    mutationFn: () => unwrap(api.POST('/v1/tasks/{id}/cancel', { params: { path: { id: taskId } } })),
    onSuccess: (t) => {
      qc.setQueryData(key, t);
      // the lists and the agent's queue counts show it too
      invalidateTaskViews(qc);
      setConfirming(false);
    },
  });
  if (deleted)
    return (
      <section aria-labelledby="task-title">
        <p>
          <Link to="/tasks">← Tasks</Link>
        </p>
        <h1 id="task-title">Task {deleted.name} deleted</h1>
        <p role="status">
          Its record and history are gone; the events stream keeps its last event, <code>deleted</code>, with your name.
        </p>
        <p>
          <Link to="/tasks" search={{ agentId: deleted.agentId }}>
            The agent's other tasks
          </Link>
        </p>
      </section>
    );
  return (
    <section aria-labelledby="task-title">
      <p>
        <Link to="/tasks">← Tasks</Link>
      </p>
      <QueryState query={query} what="the task">
        {(t) => (
          <>
            <h1 id="task-title">
              Task {t.name} <StatusBadge status={t.status} />
            </h1>
            <p className={`stream stream-${stream.state}`} role="status" aria-live="polite">
              Live updates: <span data-testid="stream-state">{stream.state}</span>
              {stream.detail ? ` (${stream.detail})` : ''}
            </p>
            <dl className="fields">
              <dt>id</dt>
              <dd>
                <code>{t.id}</code>
              </dd>
              <dt>agent</dt>
              <dd>
                <AgentName agentId={t.agentId} />{' '}
                <Link to="/authz" search={{ access: `agent:${t.agentId}` }}>who has access to the agent</Link>,{' '}
                <Link to="/authz" search={{ access: `task:${t.id}` }}>to this task</Link>
              </dd>
              <dt>attempt</dt>
              <dd>
                {t.attempt} of {t.maxAttempts}
              </dd>
              <dt>worker</dt>
              <dd>{t.workerId ?? '—'}</dd>
              <dt>progress</dt>
              <dd>
                <code>{t.progress === null || t.progress === undefined ? '—' : JSON.stringify(t.progress)}</code>
              </dd>
              <dt>cancel requested</dt>
              <dd data-testid="cancel-requested">
                {t.cancelRequested ? 'yes' : 'no'}
                {typeof cancelRequestedBy === 'string' && (
                  <>
                    , by <code>{cancelRequestedBy}</code>
                  </>
                )}
              </dd>
              <dt>creator</dt>
              <dd>{t.creatorUserId ?? t.creatorServiceAccountId ?? 'system'}</dd>
              <dt>params</dt>
              <dd>
                <code>{JSON.stringify(t.params)}</code>
              </dd>
              <dt>result</dt>
              <dd>
                <code>{t.result === undefined || t.result === null ? '—' : JSON.stringify(t.result)}</code>
              </dd>
              <dt>created</dt>
              <dd>{new Date(t.createdAt).toLocaleString()}</dd>
            </dl>
            <div className="task-actions">
              {!(TERMINAL as readonly string[]).includes(t.status) && (
                <button type="button" className="danger" disabled={t.cancelRequested} onClick={() => setConfirming(true)}>
                  {t.cancelRequested ? 'Cancel requested' : 'Cancel task'}
                </button>
              )}
              {(TERMINAL as readonly string[]).includes(t.status) && (
                <button type="button" onClick={() => setRerunning(true)}>
                  Run again…
                </button>
              )}
              <button type="button" className="danger" onClick={() => setDeleting(true)}>
                Delete task…
              </button>
            </div>
            {rerunning && <RunAgainDialog task={t} onClose={() => setRerunning(false)} />}
            {deleting && (
              <DeleteTaskDialog
                task={t}
                onClose={() => setDeleting(false)}
                onDeleted={() => {
                  setDeleting(false);
                  setDeleted({ name: t.name, agentId: t.agentId });
                  qc.removeQueries({ queryKey: ['task', taskId] });
                  invalidateTaskViews(qc);
                }}
              />
            )}
            <ConfirmDialog
              open={confirming}
              title={`Cancel task ${t.name}?`}
              confirmLabel="Yes, cancel the task"
              busy={cancel.isPending}
              onConfirm={() => cancel.mutate()}
              onCancel={() => setConfirming(false)}
            >
              <p>
                {t.status === 'running'
                  ? 'The task is running: its worker is told through its next heartbeat and the task ends canceled when it stops.'
                  : 'The task is pending: it is canceled at once and no worker will run it.'}
              </p>
              {cancel.isError && <ErrorBanner error={cancel.error} />}
            </ConfirmDialog>
            <h2>Attempts</h2>
            {history === 'loading' && events.length === 0 && (
              <p role="status" className="muted">
                Reading the task&apos;s history…
              </p>
            )}
            {history === 'failed' && (
              <div className="error" role="alert" data-testid="history-failed">
                The task&apos;s history could not be read: the events stream failed{stream.detail ? ` (${stream.detail})` : ''}, and so did
                reading it page by page (<code>{fallback.error instanceof ApiError ? fallback.error.code : 'ERROR'}</code>:{' '}
                {fallback.error instanceof Error ? fallback.error.message : String(fallback.error)}).{' '}
                {events.length === 0 ? 'Its attempts and events are not known.' : 'The attempts and events below are only those that arrived before.'}
                {!refused(fallback.error) && ' This page tries again every few seconds.'}
              </div>
            )}
            <AttemptsTable attempts={attemptsOf(events)} maxAttempts={t.maxAttempts} known={history === 'complete'} />
            <h2>Timeline</h2>
            {events.length === 0 ? (
              <p className="muted">{history === 'complete' ? 'No events yet.' : 'Not known until the history is read.'}</p>
            ) : (
              <ol className="timeline" aria-label="Events">
                {events.map((e) => (
                  <li key={e.seq} id={`event-${e.seq}`} data-event={e.type} aria-current={e.seq === target ? 'true' : undefined}>
                    <a href={`#event-${e.seq}`} className="seq" aria-label={`Link to event ${e.seq}`}>
                      #{e.seq}
                    </a>{' '}
                    <StatusBadge status={e.type} /> <time dateTime={e.at}>{new Date(e.at).toLocaleTimeString()}</time>{' '}
                    {Object.keys(e.data).length > 0 && <code>{JSON.stringify(e.data)}</code>}
                  </li>
                ))}
              </ol>
            )}
          </>
        )}
      </QueryState>
    </section>
  );
}

/** The event a link points at (`#event-<seq>`, Temporal's and Trigger.dev's deep link per event), scrolled to once it has arrived. */
function useLinkedEvent(events: TaskEvent[]): number | undefined {
  const read = () => {
    const m = /^#event-(\d+)$/.exec(window.location.hash);
    return m ? Number(m[1]) : undefined;
  };
  const [target, setTarget] = useState(read);
  const scrolled = useRef<number | undefined>(undefined);
  useEffect(() => {
    const onHash = () => setTarget(read());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  const arrived = target !== undefined && events.some((e) => e.seq === target);
  useEffect(() => {
    // the stream brings the history after the page loaded: the browser's own jump to the anchor found nothing yet
    if (arrived && scrolled.current !== target) {
      scrolled.current = target;
      document.getElementById(`event-${target}`)?.scrollIntoView?.({ block: 'center' });
    }
  }, [arrived, target]);
  return target;
}
