import { useQueries, useQuery } from '@tanstack/react-query';
import { Link } from '@tanstack/react-router';
import { api, ApiError, unwrap } from '../api/client.js';
import { age } from '../components/age.js';
import { EmptyState, QueryState } from '../components/states.js';

export function AgentsPage() {
  const agents = useQuery({ queryKey: ['agents'], queryFn: () => unwrap(api.GET('/v1/agents', { params: { query: { limit: 100 } } })) });
  const items = agents.data?.items ?? [];
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
        {(page) =>
          page.items.length === 0 ? (
            <EmptyState title="No agents yet">
              <p>
                Create one with <code>POST /v1/agents</code>.
              </p>
            </EmptyState>
          ) : (
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
                {page.items.map((a, i) => {
                  const s = stats[i];
                  const forbidden = s?.error instanceof ApiError && s.error.status === 403;
                  const cell = (n: number | undefined) => (s?.isPending ? '…' : forbidden ? 'forbidden' : s?.isError ? 'error' : String(n ?? 0));
                  return (
                    <tr key={a.id} data-agent={a.name}>
                      <th scope="row">
                        <Link to="/tasks" search={{ agentId: a.id }}>
                          {a.name}
                        </Link>
                      </th>
                      <td data-stat="pending">{cell(s?.data?.pending)}</td>
                      <td data-stat="running">{cell(s?.data?.running)}</td>
                      <td data-stat="completed">{cell(s?.data?.completed)}</td>
                      <td data-stat="failed">{cell(s?.data?.failed)}</td>
                      <td data-stat="canceled">{cell(s?.data?.canceled)}</td>
                      <td>{s?.data ? (s.data.oldestPendingAt ? age(s.data.oldestPendingAt) : 'none') : '—'}</td>
                      <td>{a.maxConcurrency ?? 'unlimited'}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )
        }
      </QueryState>
    </section>
  );
}
