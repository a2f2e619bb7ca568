import { useState, type FormEvent } from 'react';
import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import { api, unwrap } from '../api/client.js';
import { ActionSelect, type Action } from './ActionSelect.js';
import { ConfirmDialog } from './ConfirmDialog.js';
import { MoreButton } from './MoreButton.js';
import { AuditEmpty, KeptSince } from './KeptSince.js';
import { ErrorBanner, QueryState } from './states.js';
import { StatusBadge } from './StatusBadge.js';

interface Grant {
  subject: string;
  action: Action;
}

const when = (iso: string) => <time dateTime={iso}>{new Date(iso).toLocaleString()}</time>;

/**
 * Who has access to one resource by a direct grant, and who gave and took it when (harbor #21025, "complete audit"):
 * `GET /v1/authz/grants` and `/grants/history`, both `admin` on the resource. Grant and revoke here are the API's
 * own `POST` and `DELETE /v1/authz/grants`.
 */
export function AccessAudit({ resource }: { resource: string }) {
  const qc = useQueryClient();
  const grants = useInfiniteQuery({
    queryKey: ['authz-grants', resource],
    queryFn: ({ pageParam }) => unwrap(api.GET('/v1/authz/grants', { params: { query: { resource, cursor: pageParam } } })),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const history = useInfiniteQuery({
    queryKey: ['authz-grant-history', resource],
    queryFn: ({ pageParam }) => unwrap(api.GET('/v1/authz/grants/history', { params: { query: { resource, cursor: pageParam, limit: 20 } } })),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const changed = () => {
    void qc.invalidateQueries({ queryKey: ['authz-grants', resource] });
    void qc.invalidateQueries({ queryKey: ['authz-grant-history', resource] });
    void qc.invalidateQueries({ queryKey: ['authz-explain'] });
  };
  const [subject, setSubject] = useState('');
  const [action, setAction] = useState<Action>('read');
  const grant = useMutation({
    mutationFn: () => unwrap(api.POST('/v1/authz/grants', { body: { subject: subject.trim(), action, resource } })),
    onSuccess: () => {
      setSubject('');
      changed();
    },
  });
  const [revoking, setRevoking] = useState<Grant | null>(null);
  const revoke = useMutation({
    mutationFn: (g: Grant) => unwrap(api.DELETE('/v1/authz/grants', { body: { ...g, resource } })),
    onSuccess: () => {
      setRevoking(null);
      grant.reset();
      changed();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    grant.mutate();
  };
  return (
    <>
      <QueryState query={grants} what="the grants">
        {(data) => {
          const items = data.pages.flatMap((p) => p.items);
          return (
            <>
              {items.length === 0 ? (
                <p className="muted" role="status">
                  Nobody holds an action on <code>{resource}</code> by a grant of its own. Access may still come from its parent, its owner
                  or a tenant admin: Explain says why.
                </p>
              ) : (
                <table aria-label="Grants">
                  <thead>
                    <tr>
                      <th scope="col">subject</th>
                      <th scope="col">action</th>
                      <th scope="col">granted by</th>
                      <th scope="col">since</th>
                      <th scope="col">
                        <span className="sr-only">revoke</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {items.map((g) => (
                      <tr key={`${g.action}@${g.subject}`} data-grant={`${g.action}@${g.subject}`}>
                        <td>
                          <code>{g.subject}</code>
                        </td>
                        <td>{g.action}</td>
                        <td>{g.grantedBy ? <code>{g.grantedBy}</code> : <span className="muted">before the audit</span>}</td>
                        <td>{when(g.grantedAt)}</td>
                        <td>
                          <button type="button" onClick={() => setRevoking({ subject: g.subject, action: g.action })} aria-label={`Revoke ${g.action} from ${g.subject}`}>
                            Revoke…
                          </button>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
              <MoreButton query={grants} label="More grants" />
              <form className="filters" onSubmit={submit} aria-label="Grant access">
                <label>
                  Subject
                  <input name="grant-subject" value={subject} placeholder="user:bob or service_account:ci" required onChange={(e) => {
                      setSubject(e.target.value);
                      grant.reset();
                    }} />
                </label>
                <ActionSelect name="grant-action" value={action} onChange={setAction} />
                <button type="submit" disabled={grant.isPending}>
                  Grant
                </button>
              </form>
              {grant.isError && <ErrorBanner error={grant.error} />}
              {grant.isSuccess && !grant.data.created && (
                <p className="muted" role="status" data-testid="grant-held">
                  <code>{grant.data.subject}</code> already held {grant.data.action} on <code>{resource}</code>: nothing changed.
                </p>
              )}
            </>
          );
        }}
      </QueryState>
      <ConfirmDialog
        open={revoking !== null}
        title={revoking ? `Revoke ${revoking.action} from ${revoking.subject}?` : ''}
        confirmLabel="Yes, revoke"
        busy={revoke.isPending}
        onConfirm={() => revoking && revoke.mutate(revoking)}
        onCancel={() => {
          setRevoking(null);
          revoke.reset();
        }}
      >
        <p>
          They lose what this grant gave them on <code>{resource}</code> (and what it covers below it) at once; access they have
          another way stays. The revocation is kept in the history below.
        </p>
        {revoke.isError && <ErrorBanner error={revoke.error} />}
      </ConfirmDialog>
      <h3>History</h3>
      <QueryState query={history} what="the history of its grants">
        {(data) => {
          const items = data.pages.flatMap((p) => p.items);
          const keptSince = data.pages[0]?.keptSince;
          if (items.length === 0) return <AuditEmpty none="No grant of it has changed" keptSince={keptSince} />;
          return (
            <>
              <table aria-label="Grant history">
                <thead>
                  <tr>
                    <th scope="col">when</th>
                    <th scope="col">change</th>
                    <th scope="col">subject</th>
                    <th scope="col">action</th>
                    <th scope="col">by</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((c, i) => (
                    <tr key={`${c.at}-${i}`} data-change={c.change}>
                      <td>{when(c.at)}</td>
                      <td>
                        <StatusBadge status={c.change} />
                      </td>
                      <td>
                        <code>{c.subject}</code>
                      </td>
                      <td>{c.action}</td>
                      <td>
                        <code>{c.by}</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <MoreButton query={history} label="Older changes" />
              {!history.hasNextPage && <KeptSince keptSince={keptSince} />}
            </>
          );
        }}
      </QueryState>
    </>
  );
}
