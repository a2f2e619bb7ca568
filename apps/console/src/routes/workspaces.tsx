import { useState, type FormEvent } from 'react';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, unwrap } from '../api/client.js';
import { readAll } from '../api/pages.js';
import { Truncated } from '../components/Truncated.js';
import type { paths } from '../api/schema.js';
import { age } from '../components/age.js';
import { ConfirmDialog } from '../components/ConfirmDialog.js';
import { AuditEmpty, KeptSince } from '../components/KeptSince.js';
import { MoreButton } from '../components/MoreButton.js';
import { StatusBadge } from '../components/StatusBadge.js';
import { EmptyState, ErrorBanner, QueryState } from '../components/states.js';

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

const CHANGE_LABELS = { enabled: 'enabled', disabled: 'disabled', moved_out: 'moved to the platform agent', moved_in: 'moved in from a former root' } as const;

/**
 * The audit of a workspace's allowlist (`GET /v1/workspaces/{id}/plugin-changes`), newest first, 20 a page; read
 * when first opened, not with the page.
 */
function PluginChanges({ workspace }: { workspace: Workspace }) {
  const [opened, setOpened] = useState(false);
  const changes = useInfiniteQuery({
    enabled: opened,
    queryKey: ['workspace-plugin-changes', workspace.id],
    queryFn: ({ pageParam }) =>
      unwrap(api.GET('/v1/workspaces/{id}/plugin-changes', { params: { path: { id: workspace.id }, query: { cursor: pageParam, limit: 20 } } })),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  return (
    <details onToggle={(e) => e.currentTarget.open && setOpened(true)}>
      <summary>Changes to the allowlist</summary>
      <QueryState query={changes} what="the changes to the allowlist">
        {(data) => {
          const items = data.pages.flatMap((p) => p.items);
          const keptSince = data.pages[0]?.keptSince;
          if (items.length === 0) return <AuditEmpty none="No change" keptSince={keptSince} />;
          return (
            <>
              <table aria-label={`Allowlist changes of ${workspace.name}`}>
                <thead>
                  <tr>
                    <th scope="col">when</th>
                    <th scope="col">plugin</th>
                    <th scope="col">change</th>
                    <th scope="col">by</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((c, i) => (
                    <tr key={`${c.changedAt}-${i}`} data-change={c.change}>
                      <td>
                        <time dateTime={c.changedAt}>{new Date(c.changedAt).toLocaleString()}</time>
                      </td>
                      <td>
                        <code>{c.plugin}</code>
                      </td>
                      <td>{CHANGE_LABELS[c.change]}</td>
                      <td>
                        <code>{c.changedBy}</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <MoreButton query={changes} label="Older changes" />
              {!changes.hasNextPage && <KeptSince keptSince={keptSince} />}
            </>
          );
        }}
      </QueryState>
    </details>
  );
}

/** A root workspace's plugin allowlist: who enabled what, when; a tenant admin enables and disables. */
function Plugins({ workspace, now }: { workspace: Workspace; now: number }) {
  const qc = useQueryClient();
  const [plugin, setPlugin] = useState('');
  const key = ['workspace-plugins', workspace.id];
  const list = useQuery({
    queryKey: key,
    queryFn: () => unwrap(api.GET('/v1/workspaces/{id}/plugins', { params: { path: { id: workspace.id } } })),
  });
  const enable = useMutation({
    mutationFn: (name: string) => unwrap(api.PUT('/v1/workspaces/{id}/plugins/{plugin}', { params: { path: { id: workspace.id, plugin: name } } })),
    onSuccess: async () => {
      setPlugin('');
      await qc.invalidateQueries({ queryKey: key });
      await qc.invalidateQueries({ queryKey: ['workspace-plugin-changes', workspace.id] });
    },
  });
  const disable = useMutation({
    mutationFn: (name: string) => unwrap(api.DELETE('/v1/workspaces/{id}/plugins/{plugin}', { params: { path: { id: workspace.id, plugin: name } } })),
    onSuccess: async () => {
      await qc.invalidateQueries({ queryKey: key });
      await qc.invalidateQueries({ queryKey: ['workspace-plugin-changes', workspace.id] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (plugin.trim()) enable.mutate(plugin.trim());
  };
  const inputId = `plugin-${workspace.id}`;
  return (
    <section className="plugins" aria-label={`Plugins of ${workspace.name}`} data-plugins={workspace.name}>
      <h2>Plugins of {workspace.name}</h2>
      <QueryState query={list} what="the plugin allowlist">
        {(page) =>
          page.items.length === 0 ? (
            <p className="muted">No plugin allowed yet.</p>
          ) : (
            <table aria-label={`Plugin allowlist of ${workspace.name}`}>
              <thead>
                <tr>
                  <th scope="col">plugin</th>
                  <th scope="col">enabled by</th>
                  <th scope="col">when</th>
                  <th scope="col">
                    <span className="sr-only">actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((p) => (
                  <tr key={p.plugin} data-plugin={p.plugin}>
                    <th scope="row">
                      <code>{p.plugin}</code>
                    </th>
                    <td>
                      <code>{p.enabledBy}</code>
                    </td>
                    <td title={p.enabledAt}>{age(p.enabledAt, now)}</td>
                    <td>
                      <button type="button" disabled={disable.isPending} onClick={() => disable.mutate(p.plugin)}>
                        Disable {p.plugin}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </QueryState>
      <form className="filters" onSubmit={submit} aria-label={`Enable a plugin on ${workspace.name}`}>
        <label htmlFor={inputId}>Plugin</label>
        <input id={inputId} value={plugin} onChange={(e) => setPlugin(e.target.value)} placeholder="e.g. crm-sync" />
        <button type="submit" disabled={enable.isPending || !plugin.trim()}>
          Enable
        </button>
      </form>
      {enable.isError && <ErrorBanner error={enable.error} />}
      {disable.isError && <ErrorBanner error={disable.error} />}
      <PluginChanges workspace={workspace} />
    </section>
  );
}

/**
 * The org's removed workspaces (`GET /v1/workspaces?status=removed`), with who created and who removed each and when:
 * the tree shows the live ones only. Read when first opened, 50 a page.
 */
function RemovedWorkspaces() {
  const [opened, setOpened] = useState(false);
  const removed = useInfiniteQuery({
    enabled: opened,
    queryKey: ['workspaces', 'removed'],
    queryFn: ({ pageParam }) => unwrap(api.GET('/v1/workspaces', { params: { query: { status: 'removed', cursor: pageParam, limit: 50 } } })),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  return (
    <details className="removed-workspaces" onToggle={(e) => e.currentTarget.open && setOpened(true)}>
      <summary>Removed workspaces</summary>
      <QueryState query={removed} what="the removed workspaces">
        {(data) => {
          const items = data.pages.flatMap((p) => p.items);
          if (items.length === 0) return <p className="muted">No workspace has been removed.</p>;
          return (
            <>
              <table aria-label="Removed workspaces">
                <thead>
                  <tr>
                    <th scope="col">workspace</th>
                    <th scope="col">kind</th>
                    <th scope="col">created by</th>
                    <th scope="col">removed by</th>
                    <th scope="col">removed</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((w) => (
                    <tr key={w.id} data-removed={w.name}>
                      <th scope="row">
                        {w.name} <code className="muted">{w.id}</code>
                      </th>
                      <td>{w.kind}</td>
                      <td>{w.createdBy ? <code>{w.createdBy}</code> : <span className="muted">{w.kind === 'platform' ? 'its install' : 'not recorded'}</span>}</td>
                      <td>{w.removedBy ? <code>{w.removedBy}</code> : <span className="muted">not recorded</span>}</td>
                      <td>{w.removedAt ? <time dateTime={w.removedAt}>{new Date(w.removedAt).toLocaleString()}</time> : <span className="muted">not recorded</span>}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <MoreButton query={removed} label="More removed workspaces" />
            </>
          );
        }}
      </QueryState>
    </details>
  );
}

/** POST /v1/platform-agent/install behind a confirmation; the answer says what moved. */
function InstallPlatformAgent() {
  const qc = useQueryClient();
  const [open, setOpen] = useState(false);
  const install = useMutation({
    mutationFn: () => unwrap(api.POST('/v1/platform-agent/install', { body: {} })),
    onSuccess: async () => {
      setOpen(false);
      await qc.invalidateQueries({ queryKey: ['workspaces'] });
      await qc.invalidateQueries({ queryKey: ['workspace-plugins'] });
      await qc.invalidateQueries({ queryKey: ['workspace-plugin-changes'] });
    },
  });
  return (
    <div className="install">
      <button type="button" className="primary" onClick={() => setOpen(true)}>
        Install platform agent
      </button>
      <ConfirmDialog
        open={open}
        title="Install the platform agent?"
        confirmLabel="Install"
        busy={install.isPending}
        onConfirm={() => install.mutate()}
        onCancel={() => setOpen(false)}
      >
        <p>
          The platform agent becomes the single root of this organisation's tree: every other root workspace is reparented under it and
          their plugin allowlists move onto it. A re-run changes nothing.
        </p>
        {install.isError && <ErrorBanner error={install.error} />}
      </ConfirmDialog>
      {install.data && (
        <p role="status" data-testid="install-result">
          Platform agent <strong>{install.data.name}</strong> (<code>{install.data.platformAgentId}</code>){' '}
          {install.data.created ? 'installed' : 'was installed already'}: {install.data.reparented} reparented,{' '}
          {install.data.allowlistMoved} allowlist entries moved.
        </p>
      )}
    </div>
  );
}

export function WorkspacesPage() {
  const list = useQuery({
    queryKey: ['workspaces'],
    // the whole tree: a child may be on a later page than its parent
    queryFn: () => readAll((cursor) => unwrap(api.GET('/v1/workspaces', { params: { query: { limit: 100, cursor } } }))),
    // heartbeats flip status; keep the page honest without a reload
    refetchInterval: 3_000,
  });
  return (
    <section aria-labelledby="ws-title">
      <h1 id="ws-title">Workspaces</h1>
      <InstallPlatformAgent />
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
          const now = Date.now();
          // the allowlist belongs to a root (DESIGN §11)
          const roots = items.filter((w) => !w.parentId);
          return (
            <>
              <nav aria-label="Workspace tree" className="tree">
                <Tree nodes={byParent.get(null) ?? []} byParent={byParent} now={now} />
              </nav>
              <Truncated truncated={page.truncated} what="workspaces" />
              {roots.map((w) => (
                <Plugins key={w.id} workspace={w} now={now} />
              ))}
            </>
          );
        }}
      </QueryState>
      <RemovedWorkspaces />
    </section>
  );
}
