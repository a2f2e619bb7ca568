import { useEffect, useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { getRouteApi } from '@tanstack/react-router';
import { api, unwrap } from '../api/client.js';
import { tokenTenant } from '../api/session.js';
import { AccessAudit } from '../components/AccessAudit.js';
import { ACTIONS, ActionSelect, type Action } from '../components/ActionSelect.js';
import { ExplainPath } from '../components/ExplainPath.js';
import { EmptyState, ErrorBanner, QueryState } from '../components/states.js';


/** The explain form lives in the URL: a link reproduces the explanation. */
export interface AuthzSearch {
  subject?: string;
  action?: Action;
  resource?: string;
  /** The resource whose grants and their history are shown (`<type>:<id>`). */
  access?: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() ? v.trim() : undefined);

export function validateAuthzSearch(s: Record<string, unknown>): AuthzSearch {
  const action = str(s.action);
  return {
    subject: str(s.subject),
    action: (ACTIONS as readonly string[]).includes(action ?? '') ? (action as Action) : undefined,
    resource: str(s.resource),
    access: str(s.access),
  };
}

const route = getRouteApi('/app/authz');

function TenantStatus({ tenant }: { tenant: string }) {
  const status = useQuery({
    queryKey: ['authz-status', tenant],
    queryFn: () => unwrap(api.GET('/v1/authz/tenants/{tenantId}/status', { params: { path: { tenantId: tenant } } })),
  });
  return (
    <QueryState query={status} what="the tenant's authz status">
      {(s) => {
        const types = Object.entries(s.coverage).sort(([a], [b]) => a.localeCompare(b));
        return (
          <>
            <p>
              Tenant <code>{s.tenantId}</code>: mode <strong data-testid="mode">{s.mode}</strong>, shadow mismatches{' '}
              <strong>{s.shadowMismatches}</strong>
            </p>
            <p className="muted" data-testid="mode-set">
              {s.modeSetBy && s.modeSetAt ? (
                <>
                  Set by <code>{s.modeSetBy}</code> at <time dateTime={s.modeSetAt}>{new Date(s.modeSetAt).toLocaleString()}</time>.
                </>
              ) : (
                'The default mode: nobody has set one for this tenant.'
              )}
            </p>
            {types.length === 0 ? (
              <EmptyState title="No resource types yet">
                <p>Registration coverage appears once the tenant has agents or tasks.</p>
              </EmptyState>
            ) : (
              <table aria-label="Registration coverage">
                <thead>
                  <tr>
                    <th scope="col">resource type</th>
                    <th scope="col">rows</th>
                    <th scope="col">registered</th>
                    <th scope="col">coverage</th>
                  </tr>
                </thead>
                <tbody>
                  {types.map(([type, c]) => (
                    <tr key={type} data-type={type}>
                      <th scope="row">{type}</th>
                      <td>{c.rows ?? 'unknown'}</td>
                      <td>{c.registered}</td>
                      <td>{c.rows === null ? 'unknown' : c.rows === 0 ? '100 %' : `${Math.floor((c.registered / c.rows) * 1000) / 10} %`}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </>
        );
      }}
    </QueryState>
  );
}

function Explain({ search }: { search: AuthzSearch }) {
  const { action, resource, subject } = search;
  const explain = useQuery({
    queryKey: ['authz-explain', subject ?? null, action, resource],
    queryFn: () => {
      if (!action || !resource) throw new Error('explain needs an action and a resource');
      return unwrap(api.POST('/v1/authz/explain', { body: { subject, action, resource } }));
    },
    enabled: Boolean(action && resource),
    staleTime: 0,
  });
  if (!action || !resource)
    return (
      <EmptyState title="Nothing explained yet">
        <p>Pick an action and a resource (for example <code>task:&lt;id&gt;</code>), then Explain.</p>
      </EmptyState>
    );
  return (
    <QueryState query={explain} what="the explanation">
      {(e) => (
        <>
          <p>
            <code>{subject ?? 'you'}</code> → <code>{action}</code> on <code>{resource}</code>
          </p>
          <ExplainPath explanation={e} />
        </>
      )}
    </QueryState>
  );
}

export function AuthzPage() {
  const search = route.useSearch();
  const navigate = route.useNavigate();
  const tenant = tokenTenant();
  const [subject, setSubject] = useState(search.subject ?? '');
  const [action, setAction] = useState<Action>(search.action ?? 'read');
  const [resource, setResource] = useState(search.resource ?? '');
  const [access, setAccess] = useState(search.access ?? '');
  // the fields follow the URL (a followed link, the back button): the form says what the explanation below is for
  useEffect(() => setSubject(search.subject ?? ''), [search.subject]);
  useEffect(() => setAction(search.action ?? 'read'), [search.action]);
  useEffect(() => setResource(search.resource ?? ''), [search.resource]);
  useEffect(() => setAccess(search.access ?? ''), [search.access]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void navigate({ search: (prev) => ({ ...prev, subject: subject.trim() || undefined, action, resource: resource.trim() || undefined }) });
  };
  const showAccess = (e: FormEvent) => {
    e.preventDefault();
    void navigate({ search: (prev) => ({ ...prev, access: access.trim() || undefined }) });
  };
  return (
    <section aria-labelledby="authz-title">
      <h1 id="authz-title">Authz</h1>
      <section aria-labelledby="status-title">
        <h2 id="status-title">Mode and registration coverage</h2>
        {tenant ? <TenantStatus tenant={tenant} /> : <ErrorBanner error={new Error('the token carries no tenant (tid claim)')} />}
      </section>
      <section aria-labelledby="explain-title">
        <h2 id="explain-title">Explain</h2>
        <form className="filters" onSubmit={submit} aria-label="Explain access">
          <label>
            Subject (optional)
            <input name="subject" value={subject} placeholder="user:bob (empty: you)" onChange={(e) => setSubject(e.target.value)} />
          </label>
          <ActionSelect name="action" value={action} onChange={setAction} />
          <label>
            Resource
            <input name="resource" value={resource} placeholder="task:<id>" required onChange={(e) => setResource(e.target.value)} />
          </label>
          <button type="submit">Explain</button>
        </form>
        <Explain search={search} />
      </section>
      <section aria-labelledby="access-title">
        <h2 id="access-title">Who has access</h2>
        <form className="filters" onSubmit={showAccess} aria-label="Who has access">
          <label>
            Resource
            <input name="access" value={access} placeholder="agent:<id>" required onChange={(e) => setAccess(e.target.value)} />
          </label>
          <button type="submit">Show grants</button>
        </form>
        {search.access ? (
          <AccessAudit key={search.access} resource={search.access} />
        ) : (
          <EmptyState title="No resource chosen">
            <p>
              Name a resource (<code>agent:&lt;id&gt;</code>, <code>task:&lt;id&gt;</code>…) to see who holds which action on it by a grant, who
              granted it and when, and every grant and revocation since. It needs admin on the resource.
            </p>
          </EmptyState>
        )}
      </section>
    </section>
  );
}
