import type { ReactNode } from 'react';
import { ApiError } from '../api/client.js';

export function Loading({ what }: { what: string }) {
  return (
    <p role="status" aria-live="polite" className="muted">
      Loading {what}…
    </p>
  );
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty" role="status">
      <h2>{title}</h2>
      {children}
    </div>
  );
}

/** The API's code and message; a 403 becomes the forbidden state, not an error. */
export function ErrorBanner({ error }: { error: unknown }) {
  if (error instanceof ApiError && error.status === 403) {
    return (
      <div className="forbidden" role="alert">
        <h2>Forbidden</h2>
        <p>
          Your token may not see this. <code>{error.code}</code>: {error.message}
        </p>
      </div>
    );
  }
  const code = error instanceof ApiError ? error.code : 'ERROR';
  const message = error instanceof Error ? error.message : String(error);
  const issues = error instanceof ApiError && error.issues.length > 1 ? error.issues : [];
  const errorId = error instanceof ApiError ? error.errorId : undefined;
  const requestId = error instanceof ApiError ? error.requestId : undefined;
  return (
    <div className="error" role="alert">
      <strong>Something went wrong</strong> <code>{code}</code>: {message}
      {issues.length > 0 && (
        <ul aria-label="Fields to fix">
          {issues.map((i, n) => (
            <li key={n}>
              <code>{i.path || '(body)'}</code>: {i.message}
            </li>
          ))}
        </ul>
      )}
      {errorId && (
        <p>
          Error id <code>{errorId}</code>: the same id is in the service&apos;s log.
        </p>
      )}
      {requestId && (
        <p className="muted">
          Request id <code>{requestId}</code>: quote it when you report this; every log line of the request has it.
        </p>
      )}
    </div>
  );
}

interface QueryLike<T> {
  isPending: boolean;
  isError: boolean;
  error: unknown;
  data: T | undefined;
}

/** Renders the loading, error and forbidden states of a query, else its data. */
export function QueryState<T>({ query, what, children }: { query: QueryLike<T>; what: string; children: (data: T) => ReactNode }) {
  if (query.isPending) return <Loading what={what} />;
  if (query.isError) return <ErrorBanner error={query.error} />;
  return <>{children(query.data as T)}</>;
}
