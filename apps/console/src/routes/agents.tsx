import { useInfiniteQuery, useQueries } from '@tanstack/react-query';
import { Link } from '@tanstack/react-router';
import { api, ApiError, unwrap } from '../api/client.js';
import { age } from '../components/age.js';
import { EmptyState, QueryState } from '../components/states.js';
import { MoreButton } from '../components/MoreButton.js';

/** Agents per page; "More agents" reads the next (never a silent cut at the first page). */
export const AGENTS_PAGE = 50;
const STATUSES = ['pending', 'running', 'completed', 'failed', 'canceled'] as const;

export function AgentsPage() {
  const agents = useInfiniteQuery({
    queryKey: ['agents'],
    queryFn: ({ pageParam }) => unwrap(api.GET('/v1/agents', { params: { query: { limit: AGENTS_PAGE, cursor: pageParam } } })),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const items = agents.data?.pages.flatMap((p) => p.items) ?? [];
  const stats = useQueries({
    queries: items.map((a) => ({
      queryKey: ['agent-stats', a.id],
      queryFn: () => unwrap(api.GET('/v1/agents/{id}/stats', { params: { path: { id: a.id } } })),
      refetchInterval: 5_000,
    })),
  });
  return (
    <section aria-labelledby="agents-title">
      <h1 id="agents-title">Agents</h1>
      <QueryState query={agents} what="agents">
        {() =>
          items.length === 0 ? (
            <EmptyState title="No agents yet">
              <p>
                Create one with <code>POST /v1/agents</code>.
              </p>
            </EmptyState>
          ) : (
            <>
              <table aria-label="Agents and their queues">
                <thead>
                  <tr>
                    <th scope="col">agent</th>
                    <th scope="col">pending</th>
                    <th scope="col">running</th>
                    <th scope="col">completed</th>
                    <th scope="col">failed</th>
                    <th scope="col">canceled</th>
                    <th scope="col">oldest pending</th>
                    <th scope="col">max concurrency</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((a, i) => {
                    const s = stats[i];
                    const forbidden = s?.error instanceof ApiError && s.error.status === 403;
                    const cell = (n: number | undefined) => (s?.isPending ? '…' : forbidden ? 'forbidden' : s?.isError ? 'error' : String(n ?? 0));
                    return (
                      <tr key={a.id} data-agent={a.name}>
                        <th scope="row">
                          <Link to="/tasks" search={{ agentId: a.id }}>
                            {a.name}
                          </Link>{' '}
                          <Link to="/authz" search={{ access: `agent:${a.id}` }} className="muted" aria-label={`Who has access to ${a.name}`}>
                            (access)
                          </Link>
                        </th>
                        {STATUSES.map((status) => (
                          <td key={status} data-stat={status}>
                            {s?.data ? (
                              // a count leads to those tasks, where they can be cancelled or run again in bulk
                              <Link to="/tasks" search={{ agentId: a.id, status }} aria-label={`${s.data[status]} ${status} tasks of ${a.name}`}>
                                {s.data[status]}
                              </Link>
                            ) : (
                              cell(undefined)
                            )}
                          </td>
                        ))}
                        <td>{s?.data ? (s.data.oldestPendingAt ? age(s.data.oldestPendingAt) : 'none') : '—'}</td>
                        <td>{a.maxConcurrency ?? 'unlimited'}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
              <MoreButton query={agents} label="More agents" />
            </>
          )
        }
      </QueryState>
    </section>
  );
}
