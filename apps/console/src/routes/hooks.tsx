import { useQuery } from '@tanstack/react-query';
import { Link } from '@tanstack/react-router';
import { api, unwrap } from '../api/client.js';
import { readAll } from '../api/pages.js';
import { EmptyState, QueryState } from '../components/states.js';
import { Truncated } from '../components/Truncated.js';

export function HooksPage() {
  const hooks = useQuery({
    queryKey: ['hooks'],
    queryFn: () => readAll((cursor) => unwrap(api.GET('/v1/hooks', { params: { query: { limit: 100, cursor } } }))),
  });
  return (
    <section aria-labelledby="hooks-title">
      <h1 id="hooks-title">Hooks</h1>
      <QueryState query={hooks} what="hooks">
        {(page) =>
          page.items.length === 0 ? (
            <EmptyState title="No hooks yet">
              <p>
                Deploy a convention (<code>POST /v1/conventions</code>) or release a hook.
              </p>
            </EmptyState>
          ) : (
            <>
              <table aria-label="Hooks">
                <thead>
                  <tr>
                    <th scope="col">hook</th>
                    <th scope="col">feature</th>
                    <th scope="col">live version</th>
                    <th scope="col">created by</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((h) => (
                    <tr key={h.id}>
                      <th scope="row">
                        <Link to="/hooks/$name" params={{ name: h.name }}>
                          {h.name}
                        </Link>
                      </th>
                      <td>{h.feature}</td>
                      <td>
                        <span className="badge badge-live">v{h.liveVersion}</span>
                      </td>
                      <td>{h.createdBy}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <Truncated truncated={page.truncated} what="hooks" />
            </>
          )
        }
      </QueryState>
    </section>
  );
}
