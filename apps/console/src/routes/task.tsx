import { useEffect, useRef, useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { getRouteApi, Link } from '@tanstack/react-router';
import { api, unwrap } from '../api/client.js';
import { followTaskEvents, TERMINAL, type StreamState, type TaskEvent } from '../api/task-events.js';
import { AgentName } from '../components/AgentName.js';
import { AttemptsTable } from '../components/Attempts.js';
import { attemptsOf } from '../api/task-attempts.js';
import { ConfirmDialog } from '../components/ConfirmDialog.js';
import { DeleteTaskDialog } from '../components/DeleteTask.js';
import { RunAgainDialog } from '../components/RunAgain.js';
import { StatusBadge } from '../components/StatusBadge.js';
import { ErrorBanner, QueryState } from '../components/states.js';

const route = getRouteApi('/app/tasks/$taskId');

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
  const query = useQuery({
    queryKey: key,
    queryFn: () => unwrap(api.GET('/v1/tasks/{id}', { params: { path: { id: taskId } } })),
    // the SSE stream drives updates; poll only when it cannot
    refetchInterval: (q) => (stream.state === 'failed' && !(TERMINAL as readonly string[]).includes(q.state.data?.status ?? '') ? 3_000 : false),
  });
  useEffect(() => {
    setEvents([]);
    return followTaskEvents(
      taskId,
      (e) => {
        setEvents((prev) => (prev.some((p) => p.seq === e.seq) ? prev : [...prev, e]));
        void qc.invalidateQueries({ queryKey: ['task', taskId] });
      },
      (state, detail) => {
        setStream({ state, detail });
        // the stream gave up (the task deleted, or the connection lost): read the task again for what is true now
        if (state === 'failed') void qc.invalidateQueries({ queryKey: ['task', taskId] });
      },
    );
  }, [taskId, qc]);
  const cancel = useMutation({
    mutationFn: () => unwrap(api.POST('/v1/tasks/{id}/cancel', { params: { path: { id: taskId } } })),
    onSuccess: (t) => {
      qc.setQueryData(key, t);
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
                  void qc.invalidateQueries({ queryKey: ['tasks'] });
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
            <AttemptsTable attempts={attemptsOf(events)} maxAttempts={t.maxAttempts} />
            <h2>Timeline</h2>
            {events.length === 0 ? (
              <p className="muted">No events yet.</p>
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
