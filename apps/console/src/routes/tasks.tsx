import { useEffect, useRef, useState, type FormEvent } from 'react';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { getRouteApi, Link } from '@tanstack/react-router';
import { ApiError, api, unwrap } from '../api/client.js';
import { collectCancelable, type Cancelable, type ListFilters } from '../api/bulk-cancel.js';
import { collectRerunnable, isRerunnable } from '../api/bulk-rerun.js';
import type { Task } from '../api/rerun.js';
import { invalidateTaskViews } from '../api/task-views.js';
import { AgentName } from '../components/AgentName.js';
import { BulkCancelDialog } from '../components/BulkCancel.js';
import { BulkRerunDialog } from '../components/BulkRerun.js';
import { StatusBadge } from '../components/StatusBadge.js';
import { EmptyState, ErrorBanner, Loading, QueryState } from '../components/states.js';

export const TASK_STATUSES = ['pending', 'running', 'completed', 'failed', 'canceled'] as const;
type Status = (typeof TASK_STATUSES)[number];

/**
 * The filters and page cursor live in the URL: deep links, reload and the back button keep them. A value the page
 * cannot use (`?status=exploded`, `?limit=500`) is kept as given, so the page can name it rather than drop it
 * silently and show a wider list than the link asked for; `readTaskSearch` says what is used.
 */
export interface TaskSearch {
  agentId?: string;
  /** One of TASK_STATUSES, or the text of one that is not. */
  status?: string;
  creator?: string;
  cursor?: string;
  /** 1 to 100, or a value that is not, as written. */
  limit?: number | string;
}

/** A URL value as text: the router reads `?creator=42` as the number 42, which is still the id "42". */
const text = (v: unknown): string | undefined =>
  typeof v === 'string' ? v.trim() || undefined : v === undefined || v === null ? undefined : typeof v === 'object' ? JSON.stringify(v) : String(v);

/** `?limit=`: a whole number from 1 to 100 (the router reads `25` as a number, `"25"` as text). */
const pageSize = (v: unknown): number | undefined => {
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 100 ? n : undefined;
};

const isStatus = (v: string | undefined): v is Status => (TASK_STATUSES as readonly string[]).includes(v ?? '');

export function validateTaskSearch(s: Record<string, unknown>): TaskSearch {
  const status = text(s.status);
  return {
    agentId: text(s.agentId),
    status: isStatus(status?.toLowerCase()) ? status?.toLowerCase() : status,
    creator: text(s.creator),
    cursor: text(s.cursor),
    // a number out of range stays a number, so the URL keeps it as it was written
    limit: typeof s.limit === 'number' ? s.limit : (pageSize(s.limit) ?? text(s.limit)),
  };
}

const PARAMS: readonly string[] = ['agentId', 'status', 'creator', 'cursor', 'limit'] satisfies Array<keyof TaskSearch>;

/** What the page uses of its search, and each param it cannot (a bad value, or not a param of this page). */
export function readTaskSearch(search: TaskSearch & Record<string, unknown>): {
  read: { agentId?: string; status?: Status; creator?: string; cursor?: string; limit?: number };
  unread: Array<{ param: string; value: string; expected: string }>;
} {
  const status = isStatus(search.status) ? search.status : undefined;
  const limit = pageSize(search.limit);
  const unread = Object.entries(search).flatMap(([param, v]) => {
    const expected =
      v === undefined
        ? undefined
        : param === 'status'
          ? !status && `one of ${TASK_STATUSES.join(', ')}`
          : param === 'limit'
            ? !limit && 'a whole number from 1 to 100'
            : !PARAMS.includes(param) && 'not a param of this page';
    return expected ? [{ param, value: text(v) ?? '', expected }] : [];
  });
  return { read: { agentId: search.agentId, status, creator: search.creator, cursor: search.cursor, limit }, unread };
}

const route = getRouteApi('/app/tasks');

/** `service_account:<id>` filters by the service account that created a task; anything else (`user:<id>` or a bare id) by the user. */
export function creatorFilter(creator: string | undefined): { creatorUserId?: string; creatorServiceAccountId?: string } {
  if (!creator) return {};
  if (creator.startsWith('service_account:')) return { creatorServiceAccountId: creator.slice('service_account:'.length) };
  return { creatorUserId: creator.replace(/^user:/, '') };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The agent filter takes a name or an id: a name is looked up (`GET /v1/agents/by-name/{name}`), an id is not. */
async function agentIdOf(value: string): Promise<string> {
  if (UUID.test(value)) return value;
  try {
    return (await unwrap(api.GET('/v1/agents/by-name/{name}', { params: { path: { name: value } } }))).id;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) throw new Error(`No agent named "${value}" that you may read.`);
    throw err;
  }
}

const listTasks = (query: ListFilters & { cursor?: string; limit: number }) =>
  unwrap(api.GET('/v1/tasks', { params: { query: { ...query, status: query.status as Status | undefined } } }));

/** The row as a bulk cancel takes it, or undefined once the task has ended. */
const cancelable = (t: { id: string; name: string; status: string }): Cancelable | undefined =>
  t.status === 'pending' || t.status === 'running' ? { id: t.id, name: t.name, status: t.status } : undefined;

export function TasksPage() {
  const search = route.useSearch();
  // what the page uses of the URL, and what it says it could not (never a silently wider list)
  const { read, unread } = readTaskSearch(search);
  const navigate = route.useNavigate();
  const qc = useQueryClient();
  const [agentId, setAgentId] = useState(search.agentId ?? '');
  const [creator, setCreator] = useState(search.creator ?? '');
  // the fields follow the URL: Clear, the back button and a followed link must not leave a stale filter to re-apply
  useEffect(() => setAgentId(search.agentId ?? ''), [search.agentId]);
  useEffect(() => setCreator(search.creator ?? ''), [search.creator]);
  // the rows ticked for a bulk cancel; kept across pages and filters until a bulk cancel ran or it is cleared
  const [selected, setSelected] = useState<ReadonlyMap<string, Cancelable>>(new Map());
  const [bulk, setBulk] = useState<{ tasks: Cancelable[]; truncated: boolean } | null>(null);
  const [rerun, setRerun] = useState<{ tasks: Task[]; truncated: boolean; status: string } | null>(null);
  const filters: ListFilters = { agentId: read.agentId, status: read.status, ...creatorFilter(read.creator) };
  const query = useQuery({
    queryKey: ['tasks', read],
    queryFn: () => listTasks({ ...filters, cursor: read.cursor, limit: read.limit ?? 25 }),
    placeholderData: keepPreviousData,
    refetchInterval: 5_000,
  });
  // the previous filters' (or page's) rows, kept on screen while these are read: shown as such, never acted on
  const stale = query.isPlaceholderData;
  // a ticked task the list now shows ended is unticked, one that started is counted as running: the preview says what
  // a cancel would still reach and what it does to each
  useEffect(() => {
    if (stale) return;
    const moved = (query.data?.items ?? []).filter((t) => selected.has(t.id) && selected.get(t.id)?.status !== t.status);
    if (moved.length === 0) return;
    setSelected((prev) => {
      const next = new Map(prev);
      for (const t of moved) {
        const now = cancelable(t);
        if (now) next.set(t.id, now);
        else next.delete(t.id);
      }
      return next;
    });
  }, [query.data, selected, stale]);
  // "every cancelable task matching the filters": counted page by page before anything is canceled
  const counting = useMutation({
    mutationFn: () => collectCancelable(filters, listTasks),
    onSuccess: (found) => setBulk({ tasks: found.items, truncated: found.truncated }),
  });
  // "run every task of this ended status again": counted the same way first, and named by the status it counted
  const countingRerun = useMutation({
    mutationFn: (asked: { filters: ListFilters; status: string }) => collectRerunnable(asked.filters, listTasks),
    onSuccess: (found, asked) => setRerun({ tasks: found.items, truncated: found.truncated, status: asked.status }),
  });
  const toggle = (t: Cancelable, on: boolean) =>
    setSelected((prev) => {
      const next = new Map(prev);
      if (on) next.set(t.id, t);
      else next.delete(t.id);
      return next;
    });
  const closeBulk = (ran: boolean) => {
    const canceled = bulk?.tasks.map((t) => t.id) ?? [];
    setBulk(null);
    if (!ran) return;
    setSelected(new Map());
    invalidateTaskViews(qc, canceled);
  };
  // an agent name's lookup answers for the page it was asked on: Clear, Back, another filter or leaving the page while
  // it is out make it stale, and its answer (or its error) is dropped rather than applied over what came since
  const lookups = useRef(0);
  const applying = useMutation({
    mutationFn: async () => {
      const asked = ++lookups.current;
      const agent = agentId.trim();
      let id: string | undefined;
      try {
        id = agent ? await agentIdOf(agent) : undefined;
      } catch (err) {
        if (lookups.current === asked) throw err;
        return;
      }
      if (lookups.current !== asked) return;
      await navigate({ search: (prev) => ({ ...prev, agentId: id, creator: creator.trim() || undefined, cursor: undefined }) });
    },
  });
  const dropLookup = applying.reset;
  const searchKey = JSON.stringify(search);
  useEffect(() => {
    lookups.current++;
    dropLookup();
  }, [searchKey, dropLookup]);
  useEffect(() => () => void lookups.current++, []);
  const apply = (e: FormEvent) => {
    e.preventDefault();
    applying.mutate();
  };
  return (
    <section aria-labelledby="tasks-title">
      <h1 id="tasks-title">Tasks</h1>
      <form className="filters" onSubmit={apply} aria-label="Filter tasks">
        <label>
          Status
          <select
            name="status"
            value={read.status ?? ''}
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
          Agent (name or id)
          <input name="agentId" value={agentId} onChange={(e) => setAgentId(e.target.value)} placeholder="name or uuid" />
        </label>
        <label>
          Creator (user:&lt;id&gt; or service_account:&lt;id&gt;)
          <input name="creator" value={creator} onChange={(e) => setCreator(e.target.value)} />
        </label>
        <button type="submit" disabled={applying.isPending}>
          Apply filters
        </button>
        <Link
          to="/tasks"
          search={{}}
          onClick={() => {
            lookups.current++;
            applying.reset();
            setAgentId('');
            setCreator('');
          }}
        >
          Clear
        </Link>
      </form>
      {unread.length > 0 && (
        <div className="error" role="alert" data-testid="unread-params">
          Not understood in the address, so not applied (the list is not narrowed by {unread.length === 1 ? 'it' : 'them'}):
          <ul>
            {unread.map((u) => (
              <li key={u.param}>
                <code>
                  {u.param}={u.value}
                </code>{' '}
                ({u.expected})
              </li>
            ))}
          </ul>
        </div>
      )}
      {applying.isError &&
        (applying.error instanceof ApiError ? (
          <ErrorBanner error={applying.error} />
        ) : (
          <p className="error" role="alert" data-testid="agent-filter-error">
            {applying.error.message}
          </p>
        ))}
      {search.agentId && (
        <p data-testid="agent-filter">
          The tasks of agent <AgentName agentId={search.agentId} />
        </p>
      )}
      <div className="bulk" role="group" aria-label="Bulk actions">
        <span data-testid="selected-count">{selected.size.toLocaleString()} selected</span>
        <button type="button" className="danger" disabled={selected.size === 0} onClick={() => setBulk({ tasks: [...selected.values()], truncated: false })}>
          Cancel selected…
        </button>
        <button type="button" disabled={selected.size === 0} onClick={() => setSelected(new Map())}>
          Clear selection
        </button>
        <button type="button" disabled={counting.isPending} onClick={() => counting.mutate()}>
          {counting.isPending ? 'Counting matching tasks…' : 'Cancel all matching…'}
        </button>
        {isRerunnable(read.status) && (
          <button type="button" disabled={countingRerun.isPending} onClick={() => countingRerun.mutate({ filters, status: read.status ?? '' })}>
            {countingRerun.isPending ? 'Counting matching tasks…' : `Run all ${read.status} again…`}
          </button>
        )}
      </div>
      {counting.isError && <ErrorBanner error={counting.error} />}
      {countingRerun.isError && <ErrorBanner error={countingRerun.error} />}
      {bulk && <BulkCancelDialog tasks={bulk.tasks} truncated={bulk.truncated} onClose={closeBulk} />}
      {rerun && (
        <BulkRerunDialog
          tasks={rerun.tasks}
          truncated={rerun.truncated}
          status={rerun.status}
          onClose={(ran) => {
            setRerun(null);
            if (ran) invalidateTaskViews(qc);
          }}
        />
      )}
      <QueryState query={query} what="tasks">
        {(page) =>
          stale && page.items.length === 0 ? (
            <Loading what="the tasks asked for" />
          ) : page.items.length === 0 ? (
            <EmptyState title="No tasks match">
              <p>Try another status or agent, or create a task with <code>POST /v1/tasks</code>.</p>
            </EmptyState>
          ) : (
            <div aria-busy={stale}>
              {stale && (
                <p role="status" className="muted" data-testid="tasks-stale">
                  Loading the tasks asked for… The rows below are from before the change and cannot be selected.
                </p>
              )}
              <table aria-label="Tasks">
                <thead>
                  <tr>
                    <th scope="col">
                      <PageCheckbox
                        rows={stale ? [] : page.items.flatMap((t) => cancelable(t) ?? [])}
                        selected={selected}
                        onChange={(rows, on) => rows.forEach((t) => toggle(t, on))}
                      />
                    </th>
                    <th scope="col">name</th>
                    <th scope="col">status</th>
                    <th scope="col">agent</th>
                    <th scope="col">attempt</th>
                    <th scope="col">created</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((t) => {
                    const row = cancelable(t);
                    return (
                      <tr key={t.id} data-status={t.status}>
                        <td>
                          {row ? (
                            <input
                              type="checkbox"
                              aria-label={`Select ${t.name}`}
                              checked={selected.has(t.id)}
                              disabled={stale}
                              onChange={(e) => toggle(row, e.target.checked)}
                            />
                          ) : (
                            <input type="checkbox" aria-label={`${t.name} has ended`} disabled />
                          )}
                        </td>
                        <td>
                          <Link to="/tasks/$taskId" params={{ taskId: t.id }}>
                            {t.name}
                          </Link>
                        </td>
                        <td>
                          <StatusBadge status={t.status} />
                          {t.cancelRequested && t.status === 'running' && (
                            <>
                              {' '}
                              <span className="badge badge-cancel-requested" title="its worker is told at its next heartbeat">
                                cancel requested
                              </span>
                            </>
                          )}
                        </td>
                        <td>
                          <AgentName agentId={t.agentId} />
                        </td>
                        <td>
                          {t.attempt}/{t.maxAttempts}
                        </td>
                        <td>{new Date(t.createdAt).toLocaleString()}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
              <nav aria-label="Pages" className="pager" hidden={stale}>
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
            </div>
          )
        }
      </QueryState>
    </section>
  );
}

/** Ticks or unticks every cancelable row of the page; mixed when only some are ticked. */
function PageCheckbox(props: { rows: Cancelable[]; selected: ReadonlyMap<string, Cancelable>; onChange: (rows: Cancelable[], on: boolean) => void }) {
  const ticked = props.rows.filter((t) => props.selected.has(t.id)).length;
  const all = props.rows.length > 0 && ticked === props.rows.length;
  return (
    <input
      type="checkbox"
      aria-label="Select every cancelable task on this page"
      disabled={props.rows.length === 0}
      checked={all}
      ref={(el) => {
        if (el) el.indeterminate = ticked > 0 && !all;
      }}
      onChange={() => props.onChange(props.rows, !all)}
    />
  );
}
