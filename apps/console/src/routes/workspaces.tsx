import { useQuery } from '@tanstack/react-query';
import { api, unwrap } from '../api/client.js';
import type { paths } from '../api/schema.js';
import { age } from '../components/age.js';
import { StatusBadge } from '../components/StatusBadge.js';
import { EmptyState, QueryState } from '../components/states.js';

type Workspace = paths['/v1/workspaces']['get']['responses']['200']['content']['application/json']['items'][number];

function Tree({ nodes, byParent, now }: { nodes: Workspace[]; byParent: Map<string | null, Workspace[]>; now: number }) {
  return (
    <ul>
      {nodes.map((w) => (
        <li key={w.id} data-workspace={w.name}>
          <span className="ws">
            <strong>{w.name}</strong> <span className="muted">{w.kind}</span> <StatusBadge status={w.status} />{' '}
            <span className="muted">heartbeat {age(w.lastHeartbeatAt, now)}</span>
          </span>
          {byParent.get(w.id)?.length ? <Tree nodes={byParent.get(w.id) ?? []} byParent={byParent} now={now} /> : null}
        </li>
      ))}
    </ul>
  );
}

export function WorkspacesPage() {
  const list = useQuery({
    queryKey: ['workspaces'],
    queryFn: () => unwrap(api.GET('/v1/workspaces', { params: { query: { limit: 100 } } })),
    // heartbeats flip status; keep the page honest without a reload
    refetchInterval: 3_000,
  });
  return (
    <section aria-labelledby="ws-title">
      <h1 id="ws-title">Workspaces</h1>
      <QueryState query={list} what="workspaces">
        {(page) => {
          const items = page.items.filter((w) => w.status !== 'removed');
          if (items.length === 0)
            return (
              <EmptyState title="No workspaces yet">
                <p>
                  Create one with <code>POST /v1/workspaces</code> or install the platform agent.
                </p>
              </EmptyState>
            );
          const ids = new Set(items.map((w) => w.id));
          const byParent = new Map<string | null, Workspace[]>();
          for (const w of items) {
            const parent = w.parentId && ids.has(w.parentId) ? w.parentId : null;
            byParent.set(parent, [...(byParent.get(parent) ?? []), w]);
          }
          return (
            <nav aria-label="Workspace tree" className="tree">
              <Tree nodes={byParent.get(null) ?? []} byParent={byParent} now={Date.now()} />
            </nav>
          );
        }}
      </QueryState>
    </section>
  );
}
