/** One explanation as `authz.v1.explain` answers it: the decision, its reason and the tuples behind it, in order. */
export interface Explanation {
  allowed: boolean;
  reason: string;
  path: string[];
}

const MISSING = 'missing ';

/** The decision and its path: the granting chain when allowed, the tuples looked for and not found (`missing …`) when denied. */
export function ExplainPath({ explanation }: { explanation: Explanation }) {
  const { allowed, reason, path } = explanation;
  return (
    <div className="explanation" aria-live="polite">
      <p>
        <span className={`badge ${allowed ? 'badge-allowed' : 'badge-denied'}`} data-testid="decision">
          {allowed ? 'allowed' : 'denied'}
        </span>{' '}
        reason <code data-testid="reason">{reason}</code>
      </p>
      {path.length === 0 ? (
        <p className="muted">No tuples in the path.</p>
      ) : (
        <ol aria-label={allowed ? 'Granting path' : 'What was missing'} className="path">
          {path.map((line, i) =>
            line.startsWith(MISSING) ? (
              <li key={i} data-missing="true">
                <span className="badge badge-denied">missing</span> <code>{line.slice(MISSING.length)}</code>
              </li>
            ) : (
              <li key={i}>
                <code>{line}</code>
              </li>
            ),
          )}
        </ol>
      )}
    </div>
  );
}
