import { useEffect, useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { getRouteApi, Link } from '@tanstack/react-router';
import { api, unwrap } from '../api/client.js';
import { StatusBadge } from '../components/StatusBadge.js';
import { EmptyState, QueryState } from '../components/states.js';

/** The output id lives in the URL: a link reproduces the chain. */
export interface ProvenanceSearch {
  output?: string;
}

export function validateProvenanceSearch(s: Record<string, unknown>): ProvenanceSearch {
  return { output: typeof s.output === 'string' && s.output.trim() ? s.output.trim() : undefined };
}

const route = getRouteApi('/app/provenance');

const duration = (ms: number | null): string => (ms === null ? '—' : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

function Chain({ output }: { output: string }) {
  const prov = useQuery({
    queryKey: ['provenance', output],
    queryFn: () => unwrap(api.GET('/v1/outputs/{id}/provenance', { params: { path: { id: output } } })),
  });
  return (
    <QueryState query={prov} what="the provenance">
      {({ output: o, run, release, hook }) => (
        <ol className="chain" aria-label="Provenance chain">
          <li data-step="output">
            <h2>Output</h2>
            <dl className="fields">
              <dt>id</dt>
              <dd>
                <code>{o.id}</code>
              </dd>
              <dt>recorded</dt>
              <dd>{o.createdAt}</dd>
              <dt>payload</dt>
              <dd>
                <pre>{JSON.stringify(o.payload, null, 2)}</pre>
              </dd>
            </dl>
          </li>
          <li data-step="run">
            <h2>Run</h2>
            <dl className="fields">
              <dt>id</dt>
              <dd>
                <code>{run.id}</code>
              </dd>
              <dt>status</dt>
              <dd>
                <StatusBadge status={run.status} />
              </dd>
              <dt>started</dt>
              <dd>
                {run.startedAt} by <code>{run.startedBy}</code>
              </dd>
              <dt>finished</dt>
              <dd>{run.finishedAt ?? 'not yet'}</dd>
              <dt>duration</dt>
              <dd>{duration(run.durationMs)}</dd>
              <dt>OOM retries</dt>
              <dd>{run.oomRetries}</dd>
            </dl>
          </li>
          <li data-step="release">
            <h2>Release v{release.version}</h2>
            <dl className="fields">
              <dt>digest</dt>
              <dd>
                <code data-testid="digest">{release.digest}</code>
              </dd>
              <dt>image</dt>
              <dd>
                <code>{release.image}</code>
              </dd>
              <dt>config</dt>
              <dd>
                <pre>{JSON.stringify(release.config, null, 2)}</pre>
              </dd>
              <dt>source</dt>
              <dd>{release.sourceRef ? <code>{release.sourceRef}</code> : '—'}</dd>
              <dt>built</dt>
              <dd>
                {release.builtAt} by <code>{release.builtBy}</code>
              </dd>
            </dl>
          </li>
          <li data-step="hook">
            <h2>Hook</h2>
            <dl className="fields">
              <dt>name</dt>
              <dd>
                <Link to="/hooks/$name" params={{ name: hook.name }}>
                  {hook.name}
                </Link>
              </dd>
              <dt>feature</dt>
              <dd>
                <code>{hook.feature}</code>
              </dd>
              <dt>live version</dt>
              <dd>
                v{hook.liveVersion}
                {hook.liveVersion === release.version ? ' (this release)' : ` (this output came from v${release.version})`}
              </dd>
            </dl>
          </li>
        </ol>
      )}
    </QueryState>
  );
}

export function ProvenancePage() {
  const search = route.useSearch();
  const navigate = route.useNavigate();
  const [output, setOutput] = useState(search.output ?? '');
  // the field follows the URL (a followed link, the back button): it names the output whose chain is shown
  useEffect(() => setOutput(search.output ?? ''), [search.output]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void navigate({ search: { output: output.trim() || undefined } });
  };
  return (
    <section aria-labelledby="prov-title">
      <h1 id="prov-title">Provenance</h1>
      <form onSubmit={submit} className="filters" aria-label="Find an output">
        <label>
          Output id <input name="output" value={output} onChange={(e) => setOutput(e.target.value)} placeholder="uuid of an output row" />
        </label>
        <button type="submit" className="primary">
          Trace
        </button>
      </form>
      {search.output ? (
        <Chain output={search.output} />
      ) : (
        <EmptyState title="No output picked">
          <p>
            Paste an output id (from <code>POST /v1/runs/&#123;id&#125;/outputs</code>) to see the run, release and hook that produced it.
          </p>
        </EmptyState>
      )}
    </section>
  );
}
