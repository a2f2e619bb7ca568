import { parseArgs } from 'node:util';
import { hooksEvents, tasksEvents, workspacesEvents } from '@agentplane/contracts';
import { writeOutboxEvent } from '@agentplane/messaging';
import { SqlPool, inTransaction, type SqlTx } from '@agentplane/persistence';
import { serviceDatabaseUrl } from './migrate-root.js';

/**
 * Backfill and reconcile (DESIGN §3, the rollout's missing step): compares a service's rows with authz-proxy's
 * registrations, in keyset batches, and reports (with `fix`, repairs) rows without a registration and registrations
 * without a row. Repairs go through the service's own outbox, as the service itself would register or deregister:
 * the relay publishes them, authz-proxy applies them idempotently and checks their origin. Safe under live traffic:
 * a row whose registration is still in the outbox is `pending`, not missing; a repair re-reads its row in the same
 * transaction that writes the event (a missing row's event is written only while the row exists, held FOR SHARE, so
 * a concurrent delete's deregistration follows it; an orphan's only while its row does not exist, and ids are never
 * reused). Resumable: every batch prints its cursor, and `resume` starts from one.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface Registration {
  resource: string;
  tenant: string;
  owner?: string;
  parent?: string;
}

/** How one resource type of a service is read: its rows in id order, and the registration each row states. */
interface ResourceSource {
  type: string;
  /** The table of its rows (a constant, never input): a pass ends at the largest id it held when the pass began. */
  table: string;
  /**
   * Up to `limit` rows after `after` (an id; '' for the start) and up to `until` (an id), ascending, as the
   * registration they state.
   */
  rows(db: SqlPool, q: { after: string; until: string; limit: number; tenant?: string }): Promise<Array<{ id: string; registration: Registration }>>;
  /** Which of these ids have a row. */
  existing(db: SqlPool, ids: string[]): Promise<Set<string>>;
  /** The row's registration, held FOR SHARE until the transaction ends; null when it has no row. */
  lockRow(tx: SqlTx, id: string): Promise<Registration | null>;
}

const subjectOfCreator = (user: string | null, sa: string | null) => (user ? `user:${user}` : sa ? `service_account:${sa}` : undefined);

const withOptional = (r: Registration): Registration => ({
  resource: r.resource,
  tenant: r.tenant,
  ...(r.owner ? { owner: r.owner } : {}),
  ...(r.parent ? { parent: r.parent } : {}),
});

interface AgentRow {
  id: string;
  tenant_id: string;
  created_by: string | null;
}
interface TaskRow {
  id: string;
  tenant_id: string;
  agent_id: string;
  creator_user_id: string | null;
  creator_service_account_id: string | null;
}

const agentRegistration = (r: AgentRow) => withOptional({ resource: `agent:${r.id}`, tenant: r.tenant_id, owner: r.created_by ?? undefined });
const taskRegistration = (r: TaskRow) =>
  withOptional({ resource: `task:${r.id}`, tenant: r.tenant_id, parent: `agent:${r.agent_id}`, owner: subjectOfCreator(r.creator_user_id, r.creator_service_account_id) });

/** The tasks service's resources, agents before tasks (a task's parent is registered first). */
const TASKS_SOURCES: ResourceSource[] = [
  {
    type: 'agent',
    table: 'agents',
    async rows(db, q) {
      const rows = await db.$queryRaw<AgentRow[]>`
        SELECT id::text AS id, tenant_id, created_by FROM agents
         WHERE id > ${q.after || '00000000-0000-0000-0000-000000000000'}::uuid AND id <= ${q.until}::uuid AND (${q.tenant ?? null}::text IS NULL OR tenant_id = ${q.tenant ?? null})
         ORDER BY id LIMIT ${q.limit}::int`;
      return rows.map((r) => ({ id: r.id, registration: agentRegistration(r) }));
    },
    async existing(db, ids) {
      const rows = await db.$queryRaw<Array<{ id: string }>>`SELECT id::text AS id FROM agents WHERE id = ANY(${ids}::uuid[])`;
      return new Set(rows.map((r) => r.id));
    },
    async lockRow(tx, id) {
      const rows = await tx.$queryRaw<AgentRow[]>`SELECT id::text AS id, tenant_id, created_by FROM agents WHERE id = ${id}::uuid FOR SHARE`;
      return rows[0] ? agentRegistration(rows[0]) : null;
    },
  },
  {
    type: 'task',
    table: 'tasks',
    async rows(db, q) {
      const rows = await db.$queryRaw<TaskRow[]>`
        SELECT id::text AS id, tenant_id, agent_id::text AS agent_id, creator_user_id, creator_service_account_id FROM tasks
         WHERE id > ${q.after || '00000000-0000-0000-0000-000000000000'}::uuid AND id <= ${q.until}::uuid AND (${q.tenant ?? null}::text IS NULL OR tenant_id = ${q.tenant ?? null})
         ORDER BY id LIMIT ${q.limit}::int`;
      return rows.map((r) => ({ id: r.id, registration: taskRegistration(r) }));
    },
    async existing(db, ids) {
      const rows = await db.$queryRaw<Array<{ id: string }>>`SELECT id::text AS id FROM tasks WHERE id = ANY(${ids}::uuid[])`;
      return new Set(rows.map((r) => r.id));
    },
    async lockRow(tx, id) {
      const rows = await tx.$queryRaw<TaskRow[]>`
        SELECT id::text AS id, tenant_id, agent_id::text AS agent_id, creator_user_id, creator_service_account_id FROM tasks WHERE id = ${id}::uuid FOR SHARE`;
      return rows[0] ? taskRegistration(rows[0]) : null;
    },
  },
];

interface WorkspaceRow {
  id: string;
  org_id: string;
  parent_id: string | null;
  created_by: string | null;
}

const workspaceRegistration = (r: WorkspaceRow) =>
  withOptional({ resource: `workspace:${r.id}`, tenant: r.org_id, owner: r.created_by ?? undefined, parent: r.parent_id ? `workspace:${r.parent_id}` : undefined });

/**
 * workspace-installer's live workspaces (a removed one is deregistered). Parents before children is not guaranteed by
 * id order: a child whose parent's registration comes later in the batch is retried by the consumer until it lands.
 * Workspaces created before `created_by` existed have no owner to restate.
 */
const WORKSPACE_SOURCES: ResourceSource[] = [
  {
    type: 'workspace',
    table: 'workspaces',
    async rows(db, q) {
      const rows = await db.$queryRaw<WorkspaceRow[]>`
        SELECT id::text AS id, org_id, parent_id::text AS parent_id, created_by FROM workspaces
         WHERE id > ${q.after || '00000000-0000-0000-0000-000000000000'}::uuid AND id <= ${q.until}::uuid AND status <> 'removed'
           AND (${q.tenant ?? null}::text IS NULL OR org_id = ${q.tenant ?? null})
         ORDER BY id LIMIT ${q.limit}::int`;
      return rows.map((r) => ({ id: r.id, registration: workspaceRegistration(r) }));
    },
    async existing(db, ids) {
      const rows = await db.$queryRaw<Array<{ id: string }>>`SELECT id::text AS id FROM workspaces WHERE id = ANY(${ids}::uuid[]) AND status <> 'removed'`;
      return new Set(rows.map((r) => r.id));
    },
    async lockRow(tx, id) {
      const rows = await tx.$queryRaw<WorkspaceRow[]>`
        SELECT id::text AS id, org_id, parent_id::text AS parent_id, created_by FROM workspaces WHERE id = ${id}::uuid AND status <> 'removed' FOR SHARE`;
      return rows[0] ? workspaceRegistration(rows[0]) : null;
    },
  },
];

interface HookishRow {
  id: string;
  tenant_id: string;
  by: string;
  parent: string | null;
}

/** Registrations name an owner only for users and service accounts (the system principal registers none). */
const ownerOf = (by: string) => (/^(user|service_account):/.test(by) ? by : undefined);
const hookishRegistration = (type: string) => (r: HookishRow) =>
  withOptional({ resource: `${type}:${r.id}`, tenant: r.tenant_id, owner: ownerOf(r.by), parent: r.parent ?? undefined });

/** hook-registry's hooks, releases (parent: the hook) and runs (parent: the release), parents first. */
const HOOK_SOURCES: ResourceSource[] = [
  {
    type: 'hook',
    table: 'hooks',
    async rows(db, q) {
      const rows = await db.$queryRaw<HookishRow[]>`
        SELECT id::text AS id, tenant_id, created_by AS by, NULL::text AS parent FROM hooks
         WHERE id > ${q.after || '00000000-0000-0000-0000-000000000000'}::uuid AND id <= ${q.until}::uuid AND (${q.tenant ?? null}::text IS NULL OR tenant_id = ${q.tenant ?? null})
         ORDER BY id LIMIT ${q.limit}::int`;
      return rows.map((r) => ({ id: r.id, registration: hookishRegistration('hook')(r) }));
    },
    async existing(db, ids) {
      return new Set((await db.$queryRaw<Array<{ id: string }>>`SELECT id::text AS id FROM hooks WHERE id = ANY(${ids}::uuid[])`).map((r) => r.id));
    },
    async lockRow(tx, id) {
      // Hooks, releases and runs are never deleted (triggers): reading the row is enough, no lock to hold.
      const rows = await tx.$queryRaw<HookishRow[]>`SELECT id::text AS id, tenant_id, created_by AS by, NULL::text AS parent FROM hooks WHERE id = ${id}::uuid`;
      return rows[0] ? hookishRegistration('hook')(rows[0]) : null;
    },
  },
  {
    type: 'release',
    table: 'hook_releases',
    async rows(db, q) {
      const rows = await db.$queryRaw<HookishRow[]>`
        SELECT r.id::text AS id, h.tenant_id, r.built_by AS by, 'hook:' || r.hook_id::text AS parent
          FROM hook_releases r JOIN hooks h ON h.id = r.hook_id
         WHERE r.id > ${q.after || '00000000-0000-0000-0000-000000000000'}::uuid AND r.id <= ${q.until}::uuid AND (${q.tenant ?? null}::text IS NULL OR h.tenant_id = ${q.tenant ?? null})
         ORDER BY r.id LIMIT ${q.limit}::int`;
      return rows.map((r) => ({ id: r.id, registration: hookishRegistration('release')(r) }));
    },
    async existing(db, ids) {
      return new Set((await db.$queryRaw<Array<{ id: string }>>`SELECT id::text AS id FROM hook_releases WHERE id = ANY(${ids}::uuid[])`).map((r) => r.id));
    },
    async lockRow(tx, id) {
      const rows = await tx.$queryRaw<HookishRow[]>`
        SELECT r.id::text AS id, h.tenant_id, r.built_by AS by, 'hook:' || r.hook_id::text AS parent
          FROM hook_releases r JOIN hooks h ON h.id = r.hook_id WHERE r.id = ${id}::uuid`;
      return rows[0] ? hookishRegistration('release')(rows[0]) : null;
    },
  },
  {
    type: 'run',
    table: 'hook_runs',
    async rows(db, q) {
      const rows = await db.$queryRaw<HookishRow[]>`
        SELECT id::text AS id, tenant_id, started_by AS by, 'release:' || release_id::text AS parent FROM hook_runs
         WHERE id > ${q.after || '00000000-0000-0000-0000-000000000000'}::uuid AND id <= ${q.until}::uuid AND (${q.tenant ?? null}::text IS NULL OR tenant_id = ${q.tenant ?? null})
         ORDER BY id LIMIT ${q.limit}::int`;
      return rows.map((r) => ({ id: r.id, registration: hookishRegistration('run')(r) }));
    },
    async existing(db, ids) {
      return new Set((await db.$queryRaw<Array<{ id: string }>>`SELECT id::text AS id FROM hook_runs WHERE id = ANY(${ids}::uuid[])`).map((r) => r.id));
    },
    async lockRow(tx, id) {
      const rows = await tx.$queryRaw<HookishRow[]>`
        SELECT id::text AS id, tenant_id, started_by AS by, 'release:' || release_id::text AS parent FROM hook_runs WHERE id = ${id}::uuid`;
      return rows[0] ? hookishRegistration('run')(rows[0]) : null;
    },
  },
];

type RegistrationEvents =
  | Pick<typeof tasksEvents, 'resourceRegistered' | 'resourceDeregistered'>
  | Pick<typeof workspacesEvents, 'resourceRegistered' | 'resourceDeregistered'>
  | Pick<typeof hooksEvents, 'resourceRegistered' | 'resourceDeregistered'>;

/** Services reconcile knows, with their resource types and outbox events. */
export const RECONCILE_SERVICES: Record<string, { sources: ResourceSource[]; events: RegistrationEvents }> = {
  tasks: { sources: TASKS_SOURCES, events: tasksEvents },
  'hook-registry': { sources: HOOK_SOURCES, events: hooksEvents },
  'workspace-installer': { sources: WORKSPACE_SOURCES, events: workspacesEvents },
};

export interface ReconcileOptions {
  service: string;
  serviceDb: SqlPool;
  authzDb: SqlPool;
  tenant?: string;
  fix?: boolean;
  batch?: number;
  /** A cursor printed by an earlier run (`<type>:<rows|registrations>:<after>`): start there. */
  resume?: string;
  /** Called after each batch with its line (cursor and counts); a promise it returns is awaited before the next. */
  log?: (line: Record<string, unknown>) => void | Promise<void>;
}

export interface ReconcileReport {
  /** Rows without a registration (and none waiting in the outbox). */
  missing: string[];
  /** Rows whose registration is still in the service's outbox. */
  pending: string[];
  /** Registrations without a row. */
  orphans: string[];
  /** Outbox events written by `fix`. */
  fixed: number;
}

const PASSES = ['rows', 'registrations'] as const;

export async function reconcile(opts: ReconcileOptions): Promise<ReconcileReport> {
  const svc = RECONCILE_SERVICES[opts.service];
  if (!svc) throw new Error(`reconcile knows no service "${opts.service}" (known: ${Object.keys(RECONCILE_SERVICES).join(', ')})`);
  const batch = opts.batch ?? 500;
  const log = opts.log ?? (() => undefined);
  const report: ReconcileReport = { missing: [], pending: [], orphans: [], fixed: 0 };
  const [resumeType, resumePass, ...rest] = (opts.resume ?? '').split(':');
  let skipping = opts.resume !== undefined;
  for (const source of svc.sources) {
    for (const pass of PASSES) {
      let after = '';
      if (skipping) {
        if (source.type !== resumeType || pass !== resumePass) continue;
        skipping = false;
        after = rest.join(':');
      }
      // Each pass ends where its table ended when it began. Ids are time-ordered (newId), so rows and registrations
      // made meanwhile land past it; a pass that followed them could chase a busy service's creates for ever. Those
      // the service registers (or deregisters) itself, its registration mode being `outbox` by then.
      const until = await highWaterMark(opts, source, pass);
      if (until === null) continue;
      for (;;) {
        const last = pass === 'rows' ? await rowsBatch(opts, svc, source, after, until, batch, report) : await registrationsBatch(opts, svc, source, after, until, batch, report);
        if (last === null) break;
        after = last;
        await log({ cursor: `${source.type}:${pass}:${after}`, missing: report.missing.length, pending: report.pending.length, orphans: report.orphans.length, fixed: report.fixed });
      }
    }
  }
  return report;
}

/** The largest id (rows) or resource (registrations) of the source's type now, or null when there is none. */
async function highWaterMark(opts: ReconcileOptions, source: ResourceSource, pass: (typeof PASSES)[number]): Promise<string | null> {
  const [row] = pass === 'rows'
    ? await opts.serviceDb.$queryRawUnsafe<Array<{ last: string | null }>>(`SELECT id::text AS last FROM ${source.table} ORDER BY id DESC LIMIT 1`)
    : await opts.authzDb.$queryRaw<Array<{ last: string | null }>>`
        SELECT resource AS last FROM tuples WHERE relation = 'tenant' AND resource_type = ${source.type} ORDER BY resource DESC LIMIT 1`;
  return row?.last ?? null;
}

/**
 * One batch of the service's rows up to `until`: which have no registration. Returns the batch's last id, or null
 * when done.
 */
async function rowsBatch(opts: ReconcileOptions, svc: (typeof RECONCILE_SERVICES)[string], source: ResourceSource, after: string, until: string, limit: number, report: ReconcileReport): Promise<string | null> {
  const rows = await source.rows(opts.serviceDb, { after, until, limit, tenant: opts.tenant });
  const last = rows.at(-1);
  if (!last) return null;
  const refs = rows.map((r) => r.registration.resource);
  const registered = new Set(
    (await opts.authzDb.$queryRaw<Array<{ resource: string }>>`SELECT resource FROM tuples WHERE relation = 'tenant' AND resource = ANY(${refs}::text[])`).map((r) => r.resource),
  );
  const unregistered = refs.filter((r) => !registered.has(r));
  const queued = unregistered.length === 0 ? new Set<string>() : await pendingInOutbox(opts.serviceDb, svc.events.resourceRegistered.subject, unregistered);
  for (const row of rows) {
    const ref = row.registration.resource;
    if (registered.has(ref)) continue;
    if (queued.has(ref)) {
      report.pending.push(ref);
      continue;
    }
    report.missing.push(ref);
    if (opts.fix) {
      const wrote = await inTransaction(opts.serviceDb, async (tx) => {
        const current = await source.lockRow(tx, row.id);
        if (!current) return false; // deleted meanwhile: nothing to register
        if ((await pendingInOutbox(tx, svc.events.resourceRegistered.subject, [ref])).size > 0) return false;
        await writeOutboxEvent(tx, svc.events.resourceRegistered, current, { notify: true });
        return true;
      });
      if (wrote) report.fixed++;
    }
  }
  return last.id;
}

/**
 * One batch of authz-proxy's registrations of the type up to `until`: which have no row. Returns the batch's last ref,
 * or null.
 */
async function registrationsBatch(opts: ReconcileOptions, svc: (typeof RECONCILE_SERVICES)[string], source: ResourceSource, after: string, until: string, limit: number, report: ReconcileReport): Promise<string | null> {
  const regs = opts.tenant === undefined
    ? await opts.authzDb.$queryRaw<Array<{ resource: string }>>`
        SELECT resource FROM tuples WHERE relation = 'tenant' AND resource_type = ${source.type} AND resource > ${after} AND resource <= ${until}
         ORDER BY resource LIMIT ${limit}::int`
    : await opts.authzDb.$queryRaw<Array<{ resource: string }>>`
        SELECT resource FROM tuples WHERE subject = ${`tenant:${opts.tenant}`} AND relation = 'tenant' AND resource_type = ${source.type} AND resource > ${after} AND resource <= ${until}
         ORDER BY resource LIMIT ${limit}::int`;
  const last = regs.at(-1);
  if (!last) return null;
  const idOf = (ref: string) => ref.slice(source.type.length + 1);
  const ids = regs.map((r) => idOf(r.resource)).filter((id) => UUID.test(id));
  const existing = ids.length === 0 ? new Set<string>() : await source.existing(opts.serviceDb, ids);
  const orphans = regs.map((r) => r.resource).filter((ref) => !existing.has(idOf(ref)));
  const queued = orphans.length === 0 ? new Set<string>() : await pendingInOutbox(opts.serviceDb, svc.events.resourceDeregistered.subject, orphans);
  for (const ref of orphans) {
    if (queued.has(ref)) {
      report.pending.push(ref);
      continue;
    }
    report.orphans.push(ref);
    if (opts.fix) {
      const wrote = await inTransaction(opts.serviceDb, async (tx) => {
        if (UUID.test(idOf(ref)) && (await source.lockRow(tx, idOf(ref)))) return false; // a row after all
        await writeOutboxEvent(tx, svc.events.resourceDeregistered, { resource: ref }, { notify: true });
        return true;
      });
      if (wrote) report.fixed++;
    }
  }
  return last.resource;
}

/** Which of these resources have an event of `subject` still unpublished in the service's outbox. */
async function pendingInOutbox(db: Pick<SqlTx, '$queryRaw'>, subject: string, refs: string[]): Promise<Set<string>> {
  const rows = await db.$queryRaw<Array<{ resource: string }>>`
    SELECT payload->>'resource' AS resource FROM outbox
     WHERE published_at IS NULL AND subject = ${subject} AND payload->>'resource' = ANY(${refs}::text[])`;
  return new Set(rows.map((r) => r.resource));
}

export interface ReconcileIo {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
}

const USAGE = `usage: npm run authz:reconcile -- --service <svc> [--tenant T] [--fix] [--batch N] [--resume <cursor>]
  --service-db <url>  the service's database (default DATABASE_URL, else ${serviceDatabaseUrl('<svc>')})
  --authz-db <url>    authz-proxy's database (default AUTHZ_DATABASE_URL, else ${serviceDatabaseUrl('authz-proxy')})
Prints one JSON line per batch (its cursor, for --resume) and a final report; exits 1 when anything is missing or orphaned.`;

/** `npm run authz:reconcile`. */
export async function reconcileCli(argv: string[], io: ReconcileIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        service: { type: 'string' },
        tenant: { type: 'string' },
        fix: { type: 'boolean', default: false },
        batch: { type: 'string' },
        resume: { type: 'string' },
        'service-db': { type: 'string' },
        'authz-db': { type: 'string' },
      },
    }));
  } catch (err) {
    io.err(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return 2;
  }
  const batch = values.batch === undefined ? 500 : Number(values.batch);
  if (!values.service || !RECONCILE_SERVICES[values.service] || !Number.isInteger(batch) || batch < 1 || batch > 10_000) {
    io.err(USAGE);
    return 2;
  }
  const serviceDb = new SqlPool({ url: values['service-db'] ?? io.env['DATABASE_URL'] ?? serviceDatabaseUrl(values.service), max: 2, applicationName: 'agentplane-reconcile', prepare: false });
  const authzDb = new SqlPool({ url: values['authz-db'] ?? io.env['AUTHZ_DATABASE_URL'] ?? serviceDatabaseUrl('authz-proxy'), max: 1, applicationName: 'agentplane-reconcile', prepare: false });
  try {
    const report = await reconcile({
      service: values.service,
      serviceDb,
      authzDb,
      tenant: values.tenant,
      fix: values.fix,
      batch,
      resume: values.resume,
      log: (line) => io.out(JSON.stringify(line)),
    });
    io.out(JSON.stringify({ report: { missing: report.missing.length, pending: report.pending.length, orphans: report.orphans.length, fixed: report.fixed }, missing: report.missing, orphans: report.orphans }));
    return report.missing.length + report.orphans.length > 0 ? 1 : 0;
  } finally {
    await Promise.all([serviceDb.end(), authzDb.end()]);
  }
}
