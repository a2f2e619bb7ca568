import { useState, type FormEvent } from 'react';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { getRouteApi, Link } from '@tanstack/react-router';
import { api, unwrap } from '../api/client.js';
import { StatusBadge } from '../components/StatusBadge.js';
import { EmptyState, QueryState } from '../components/states.js';

export const TASK_STATUSES = ['pending', 'running', 'completed', 'failed', 'canceled'] as const;
type Status = (typeof TASK_STATUSES)[number];

/** The filters and page cursor live in the URL: deep links, reload and the back button keep them. */
export interface TaskSearch {
  agentId?: string;
  status?: Status;
  creator?: string;
  cursor?: string;
  limit?: number;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() ? v.trim() : undefined);

export function validateTaskSearch(s: Record<string, unknown>): TaskSearch {
  const status = str(s.status);
  return {
    agentId: str(s.agentId),
    status: (TASK_STATUSES as readonly string[]).includes(status ?? '') ? (status as Status) : undefined,
    creator: str(s.creator),
    cursor: str(s.cursor),
    limit: typeof s.limit === 'number' && Number.isInteger(s.limit) && s.limit >= 1 && s.limit <= 100 ? s.limit : undefined,
  };
}

const route = getRouteApi('/app/tasks');

/** `service_account:<id>` filters by the service account that created a task; anything else (`user:<id>` or a bare id) by the user. */
export function creatorFilter(creator: string | undefined): { creatorUserId?: string; creatorServiceAccountId?: string } {
  if (!creator) return {};
  if (creator.startsWith('service_account:')) return { creatorServiceAccountId: creator.slice('service_account:'.length) };
  return { creatorUserId: creator.replace(/^user:/, '') };
}

export function TasksPage() {
  const search = route.useSearch();
  const navigate = route.useNavigate();
  const [agentId, setAgentId] = useState(search.agentId ?? '');
  const [creator, setCreator] = useState(search.creator ?? '');
  const query = useQuery({
    queryKey: ['tasks', search],
    queryFn: () =>
      unwrap(
        api.GET('/v1/tasks', {
          params: { query: { agentId: search.agentId, status: search.status, ...creatorFilter(search.creator), cursor: search.cursor, limit: search.limit ?? 25 } },
        }),
      ),
    placeholderData: keepPreviousData,
    refetchInterval: 5_000,
  });
  const apply = (e: FormEvent) => {
    e.preventDefault();
    void navigate({ search: (prev) => ({ ...prev, agentId: agentId.trim() || undefined, creator: creator.trim() || undefined, cursor: undefined }) });
  };
  return (
    <section aria-labelledby="tasks-title">
      <h1 id="tasks-title">Tasks</h1>
      <form className="filters" onSubmit={apply} aria-label="Filter tasks">
        <label>
          Status
          <select
            name="status"
            value={search.status ?? ''}
            onChange={(e) => void navigate({ search: (prev) => ({ ...prev, status: (e.target.value || undefined) as Status | undefined, cursor: undefined }) })}
          >
            <option value="">any</option>
            {TASK_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Agent id
          <input name="agentId" value={agentId} onChange={(e) => setAgentId(e.target.value)} placeholder="uuid" />
        </label>
        <label>
          Creator (user:&lt;id&gt; or service_account:&lt;id&gt;)
          <input name="creator" value={creator} onChange={(e) => setCreator(e.target.value)} />
        </label>
        <button type="submit">Apply filters</button>
        <Link to="/tasks" search={{}}>
          Clear
        </Link>
      </form>
      <QueryState query={query} what="tasks">
        {(page) =>
          page.items.length === 0 ? (
            <EmptyState title="No tasks match">
              <p>Try another status or agent, or create a task with <code>POST /v1/tasks</code>.</p>
            </EmptyState>
          ) : (
            <>
              <table aria-label="Tasks">
                <thead>
                  <tr>
                    <th scope="col">name</th>
                    <th scope="col">status</th>
                    <th scope="col">agent</th>
                    <th scope="col">attempt</th>
                    <th scope="col">created</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((t) => (
                    <tr key={t.id} data-status={t.status}>
                      <td>
                        <Link to="/tasks/$taskId" params={{ taskId: t.id }}>
                          {t.name}
                        </Link>
                      </td>
                      <td>
                        <StatusBadge status={t.status} />
                      </td>
                      <td>
                        <code>{t.agentId}</code>
                      </td>
                      <td>
                        {t.attempt}/{t.maxAttempts}
                      </td>
                      <td>{new Date(t.createdAt).toLocaleString()}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <nav aria-label="Pages" className="pager">
                {search.cursor && (
                  <Link to="/tasks" search={(prev) => ({ ...prev, cursor: undefined })}>
                    First page
                  </Link>
                )}
                {page.nextCursor && (
                  <Link to="/tasks" search={(prev) => ({ ...prev, cursor: page.nextCursor ?? undefined })}>
                    Next page
                  </Link>
                )}
              </nav>
            </>
          )
        }
      </QueryState>
    </section>
  );
}
