import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { getRouteApi, Link } from '@tanstack/react-router';
import { api, unwrap } from '../api/client.js';
import { readAll } from '../api/pages.js';
import { Truncated } from '../components/Truncated.js';
import { ConfirmDialog } from '../components/ConfirmDialog.js';
import { ReleaseDiff, type Release } from '../components/ReleaseDiff.js';
import { ErrorBanner, QueryState } from '../components/states.js';

const route = getRouteApi('/app/hooks/$name');

export function HookPage() {
  const { name } = route.useParams();
  const qc = useQueryClient();
  const [target, setTarget] = useState<Release | null>(null);
  const hook = useQuery({ queryKey: ['hook', name], queryFn: () => unwrap(api.GET('/v1/hooks/{name}', { params: { path: { name } } })) });
  const releases = useQuery({
    queryKey: ['hook', name, 'releases'],
    queryFn: () => readAll((cursor) => unwrap(api.GET('/v1/hooks/{name}/releases', { params: { path: { name }, query: { limit: 100, cursor } } }))),
  });
  const changes = useQuery({
    queryKey: ['hook', name, 'live-changes'],
    queryFn: () => readAll((cursor) => unwrap(api.GET('/v1/hooks/{name}/live-changes', { params: { path: { name }, query: { limit: 100, cursor } } }))),
  });
  const setLive = useMutation({
    // the same door a user has: PUT /v1/hooks/{name}/live
    mutationFn: (version: number) => unwrap(api.PUT('/v1/hooks/{name}/live', { params: { path: { name } }, body: { version } })),
    onSuccess: async () => {
      setTarget(null);
      await qc.invalidateQueries({ queryKey: ['hook', name] });
      await qc.invalidateQueries({ queryKey: ['hooks'] });
      // a provenance chain says whether its release is the live one
      await qc.invalidateQueries({ queryKey: ['provenance'] });
    },
  });
  const liveVersion = hook.data?.liveVersion;
  const current = releases.data?.items.find((r) => r.version === liveVersion);
  return (
    <section aria-labelledby="hook-title">
      <p>
        <Link to="/hooks">← Hooks</Link>
      </p>
      <QueryState query={hook} what="the hook">
        {(h) => (
          <>
            <h1 id="hook-title">
              Hook {h.name} <span className="badge badge-live">live v{h.liveVersion}</span>
            </h1>
            <p className="muted">feature {h.feature} · created by {h.createdBy}</p>
          </>
        )}
      </QueryState>
      <h2>Releases</h2>
      <QueryState query={releases} what="releases">
        {(page) => (
          <table aria-label="Releases">
            <thead>
              <tr>
                <th scope="col">version</th>
                <th scope="col">digest</th>
                <th scope="col">image</th>
                <th scope="col">source</th>
                <th scope="col">built by</th>
                <th scope="col">built</th>
                <th scope="col">
                  <span className="sr-only">actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((r) => (
                <tr key={r.id} data-version={r.version}>
                  <th scope="row">
                    v{r.version} {r.version === liveVersion && <span className="badge badge-live">live</span>}
                  </th>
                  <td>
                    <code>{r.digest.slice(0, 19)}…</code>
                  </td>
                  <td>{r.image}</td>
                  <td>{r.sourceRef ?? '—'}</td>
                  <td>{r.builtBy}</td>
                  <td>{new Date(r.builtAt).toLocaleString()}</td>
                  <td>
                    {r.version !== liveVersion && (
                      <button type="button" onClick={() => setTarget(r)}>
                        Set v{r.version} live
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </QueryState>
      <Truncated truncated={releases.data?.truncated ?? false} what="releases" />
      <h2>Live pointer history</h2>
      <QueryState query={changes} what="the live pointer's history">
        {(page) =>
          page.items.length === 0 ? (
            <p className="muted">The live pointer has not moved yet.</p>
          ) : (
            <table aria-label="Live pointer history">
              <thead>
                <tr>
                  <th scope="col">when</th>
                  <th scope="col">who</th>
                  <th scope="col">from</th>
                  <th scope="col">to</th>
                  <th scope="col">why</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((c) => (
                  <tr key={c.id}>
                    <td>{new Date(c.changedAt).toLocaleString()}</td>
                    <td>{c.changedBy}</td>
                    <td>{c.fromVersion === null ? '—' : `v${c.fromVersion}`}</td>
                    <td>v{c.toVersion}</td>
                    <td>{c.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </QueryState>
      <Truncated truncated={changes.data?.truncated ?? false} what="changes of the live pointer" />
      {target && (
        <ConfirmDialog
          open
          title={`Set ${name} live: v${liveVersion ?? '?'} → v${target.version}`}
          confirmLabel={`Set v${target.version} live`}
          busy={setLive.isPending}
          onConfirm={() => setLive.mutate(target.version)}
          onCancel={() => {
            setTarget(null);
            setLive.reset();
          }}
        >
          <p>
            Runs started after this use <strong>v{target.version}</strong>; runs already started keep their release. History is kept.
          </p>
          <ReleaseDiff current={current} target={target} />
          {setLive.isError && <ErrorBanner error={setLive.error} />}
        </ConfirmDialog>
      )}
    </section>
  );
}
