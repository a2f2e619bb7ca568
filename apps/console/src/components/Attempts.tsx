import { StatusBadge } from './StatusBadge.js';
import { attemptDuration, type Attempt } from '../api/task-attempts.js';

const time = (iso?: string) => (iso ? <time dateTime={iso}>{new Date(iso).toLocaleTimeString()}</time> : '—');

const CAUSES: Record<NonNullable<Attempt['cause']>, string> = {
  lease_expired: 'missed its heartbeat',
  timed_out: 'ran past its timeout',
};

/**
 * A task's attempts: who ran each, when, for how long, and how it ended (DESIGN §12, "attempts timeline"). `known`:
 * the events they come from are the whole history so far (false while it is read, or when it could not be).
 */
export function AttemptsTable({ attempts, maxAttempts, known = true }: { attempts: Attempt[]; maxAttempts: number; known?: boolean }) {
  // no attempt in a history not (wholly) read says nothing about the task: never "not claimed" then
  if (attempts.length === 0) return <p className="muted">{known ? 'Not claimed yet: no attempt has begun.' : 'Not known until the history is read.'}</p>;
  return (
    <table aria-label="Attempts">
      <thead>
        <tr>
          <th scope="col">attempt</th>
          <th scope="col">worker</th>
          <th scope="col">started</th>
          <th scope="col">ended</th>
          <th scope="col">took</th>
          <th scope="col">outcome</th>
          <th scope="col">error</th>
        </tr>
      </thead>
      <tbody>
        {attempts.map((a) => (
          <tr key={a.attempt} data-attempt={a.attempt} data-outcome={a.outcome}>
            <td>
              {a.attempt} of {maxAttempts}
            </td>
            <td>{a.workerId ? <code>{a.workerId}</code> : '—'}</td>
            <td>{time(a.startedAt)}</td>
            <td>{time(a.endedAt)}</td>
            <td>{attemptDuration(a) ?? '—'}</td>
            <td>
              <StatusBadge status={a.outcome} />
              {a.cause && <> {CAUSES[a.cause]}</>}
              {a.retryAt && <> (again from {time(a.retryAt)})</>}
              {a.cancelRequestedBy && (
                <>
                  {' '}
                  (cancel asked by <code>{a.cancelRequestedBy}</code>)
                </>
              )}
            </td>
            <td>{a.error ?? '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
