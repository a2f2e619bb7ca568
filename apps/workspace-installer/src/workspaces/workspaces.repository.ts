import { Inject, Injectable } from '@nestjs/common';
import { Prisma, PrismaClient } from '@agentplane/db-workspace-installer';
import { inTransaction, isUniqueViolation, pruneOlderThan } from '@agentplane/persistence';
import { workspacesEvents } from '@agentplane/contracts';
import { pendingRegistrations, type PendingRegistrationsQuery } from '@agentplane/messaging';
import { HEARTBEAT_SETTINGS, type HeartbeatSettings } from '../config.js';
import type { WorkspaceRow, WorkspaceStatus } from './workspace.js';

type Sql = Pick<Prisma.TransactionClient, '$queryRaw' | '$executeRaw' | '$queryRawUnsafe' | '$executeRawUnsafe'>;

/** A WorkspaceRow's columns before its status, and after it: every statement that returns a workspace says them once. */
const WORKSPACE_HEAD = Prisma.raw('id::text AS "id", org_id AS "orgId", parent_id::text AS "parentId", name, kind');
const WORKSPACE_TAIL = Prisma.raw(
  'last_heartbeat_at AS "lastHeartbeatAt", created_at AS "createdAt", updated_at AS "updatedAt", created_by AS "createdBy", removed_by AS "removedBy", removed_at AS "removedAt"',
);

export interface PluginChangeRow {
  id: string;
  workspaceId: string;
  plugin: string;
  change: 'enabled' | 'disabled' | 'moved_out' | 'moved_in';
  changedBy: string;
  changedAt: Date;
}

export interface AllowlistRow {
  workspaceId: string;
  plugin: string;
  enabledBy: string;
  enabledAt: Date;
}

/**
 * A unique violation, also from a raw query: Prisma reports those as P2010 with the SQLSTATE in
 * meta.driverAdapterError.cause.originalCode, which `isUniqueViolation` of libs/persistence misses (it takes P2010
 * for the SQLSTATE).
 */
export function isUniqueViolationError(err: unknown): boolean {
  const cause = (err as { meta?: { driverAdapterError?: { cause?: { originalCode?: unknown } } } } | null)?.meta?.driverAdapterError?.cause;
  return cause?.originalCode === '23505' || isUniqueViolation(err);
}

/** The advisory-lock key of an org's tree: installs and new top-level workspaces of one org take it in turn. */
export function orgLockKey(orgId: string): string {
  return `workspace-installer:org:${orgId}`;
}

/**
 * The only file that touches the database. Reads compute `status` with the database clock: `online` only while the
 * last heartbeat is inside the silence window, whatever the stored status says (the sweeper may not have run yet).
 */
@Injectable()
export class WorkspacesRepository {
  constructor(
    private readonly db: PrismaClient,
    @Inject(HEARTBEAT_SETTINGS) private readonly settings: HeartbeatSettings,
  ) {}

  /** Runs `fn` in one READ COMMITTED transaction (retried whole on deadlock). */
  transaction<R>(fn: (tx: WorkspacesTx) => Promise<R>): Promise<R> {
    return inTransaction(this.db, (tx) => fn(new WorkspacesTx(tx, this.settings.silenceSeconds)), { timeoutMs: 30_000 });
  }

  /**
   * A live (not removed) workspace of the org as its authz registration states it: parent and creator; null when
   * there is none. For authz-proxy's read-after-write.
   */
  async registrationFacts(orgId: string, id: string): Promise<{ parentId: string | null; createdBy: string | null } | null> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return null;
    const rows = await this.db.$queryRaw<Array<{ parentId: string | null; createdBy: string | null }>>`
      SELECT parent_id::text AS "parentId", created_by AS "createdBy" FROM workspaces
       WHERE org_id = ${orgId} AND id = ${id}::uuid AND status <> 'removed'`;
    return rows[0] ?? null;
  }

  /** The org's live workspaces, counted (authz tenant status: rows against registrations). */
  async countLiveInOrg(orgId: string): Promise<number> {
    const rows = await this.db.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM workspaces WHERE org_id = ${orgId} AND status <> 'removed'`;
    return rows[0]?.n ?? 0;
  }

  /** The tenant's registrations of a type still on their way to authz-proxy (DESIGN §3: its lookup lists them). */
  pendingRegistrations(tenantId: string, q: PendingRegistrationsQuery) {
    return pendingRegistrations(this.db, workspacesEvents, tenantId, q);
  }

  async findInOrg(orgId: string, id: string): Promise<WorkspaceRow | null> {
    const s = this.settings.silenceSeconds;
    const rows = await this.db.$queryRaw<WorkspaceRow[]>`
      SELECT ${WORKSPACE_HEAD},
             CASE WHEN status = 'removed' THEN 'removed'
                  WHEN status = 'online' AND last_heartbeat_at > now() - ${s}::int * interval '1 second' THEN 'online'
                  ELSE 'offline' END AS status,
             ${WORKSPACE_TAIL}
        FROM workspaces
       WHERE org_id = ${orgId} AND id = ${id}::uuid`;
    return rows[0] ?? null;
  }

  /**
   * An org's workspaces (optionally the children of one), by id after `cursor`: the live ones, or those of one status
   * (`online` and `offline` as they read now, from the last heartbeat; `removed`).
   */
  list(orgId: string, opts: { parentId?: string; status?: WorkspaceStatus; limit: number; after?: string }): Promise<WorkspaceRow[]> {
    const s = this.settings.silenceSeconds;
    const status = opts.status ?? null;
    return this.db.$queryRaw<WorkspaceRow[]>`
      SELECT ${WORKSPACE_HEAD}, now_.status, ${WORKSPACE_TAIL}
        FROM workspaces
       CROSS JOIN LATERAL (
             SELECT CASE WHEN status = 'removed' THEN 'removed'
                         WHEN status = 'online' AND last_heartbeat_at > now() - ${s}::int * interval '1 second' THEN 'online'
                         ELSE 'offline' END AS status) now_
       WHERE org_id = ${orgId}
         AND (${status}::text IS NULL AND workspaces.status <> 'removed' OR now_.status = ${status}::text)
         AND (${opts.parentId ?? null}::uuid IS NULL OR parent_id = ${opts.parentId ?? null}::uuid)
         AND (${opts.after ?? null}::uuid IS NULL OR id > ${opts.after ?? null}::uuid)
       ORDER BY workspaces.id
       LIMIT ${opts.limit}`;
  }

  /**
   * Marks a live workspace online now; null when it is not the org's or is removed. clock_timestamp(), not now(): a
   * beat re-evaluated after waiting for a concurrent update of the row (another beat) stamps that later time, so
   * last_heartbeat_at never goes back. Reads and the sweeper compare it with their own now().
   */
  async heartbeat(orgId: string, id: string): Promise<WorkspaceRow | null> {
    const rows = await this.db.$queryRaw<WorkspaceRow[]>`
      UPDATE workspaces SET status = 'online', last_heartbeat_at = clock_timestamp(), updated_at = now()
       WHERE org_id = ${orgId} AND id = ${id}::uuid AND status <> 'removed'
      RETURNING ${WORKSPACE_HEAD}, status,
                ${WORKSPACE_TAIL}`;
    return rows[0] ?? null;
  }

  /** Stores `offline` on every workspace (of every org) silent for longer than the window; returns how many. */
  sweepSilent(): Promise<number> {
    const s = this.settings.silenceSeconds;
    return this.db.$executeRaw`
      UPDATE workspaces SET status = 'offline', updated_at = now()
       WHERE status = 'online' AND (last_heartbeat_at IS NULL OR last_heartbeat_at <= now() - ${s}::int * interval '1 second')`;
  }

  /** Forgets the plugin changes older than `retentionHours`, oldest first in batches (0 keeps them all); returns how many. */
  prunePluginChanges(retentionHours: number): Promise<number> {
    return pruneOlderThan(this.db, { table: 'plugin_changes', key: 'id', at: 'changed_at' }, retentionHours);
  }

  /** A workspace's plugin changes, newest first, before the line `before` (a keyset page). */
  pluginChanges(workspaceId: string, limit: number, before?: bigint): Promise<PluginChangeRow[]> {
    return this.db.$queryRaw<PluginChangeRow[]>`
      SELECT id::text AS "id", root_workspace_id::text AS "workspaceId", plugin, change, changed_by AS "changedBy", changed_at AS "changedAt"
        FROM plugin_changes
       WHERE root_workspace_id = ${workspaceId}::uuid AND (${before ?? null}::bigint IS NULL OR id < ${before ?? null}::bigint)
       ORDER BY plugin_changes.id DESC -- the column: a bare "id" would be the text alias above, and sort "10" before "9"
       LIMIT ${limit}`;
  }

  listPlugins(rootId: string): Promise<AllowlistRow[]> {
    return this.db.$queryRaw<AllowlistRow[]>`
      SELECT root_workspace_id::text AS "workspaceId", plugin, enabled_by AS "enabledBy", enabled_at AS "enabledAt"
        FROM org_plugin_allowlist WHERE root_workspace_id = ${rootId}::uuid ORDER BY plugin`;
  }
}

/** A workspace row locked by this transaction (stored status, not computed). */
export interface LockedWorkspace {
  id: string;
  parentId: string | null;
  name: string;
  kind: 'platform' | 'workspace';
  status: 'offline' | 'online' | 'removed';
}

/** The statements that run inside one transaction (install, create, remove, plugins). */
export class WorkspacesTx {
  constructor(
    private readonly tx: Sql,
    private readonly silenceSeconds: number,
  ) {}

  /** Serialises the org's tree changes (installs, new top-level workspaces) until this transaction ends. */
  async lockOrg(orgId: string): Promise<void> {
    await this.tx.$queryRaw`SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtextextended(${orgLockKey(orgId)}, 0))`;
  }

  /** The org's live roots, locked against concurrent change until commit (in id order, so lockers never deadlock). */
  lockRoots(orgId: string): Promise<LockedWorkspace[]> {
    return this.tx.$queryRaw<LockedWorkspace[]>`
      SELECT id::text AS "id", parent_id::text AS "parentId", name, kind, status
        FROM workspaces
       WHERE org_id = ${orgId} AND parent_id IS NULL AND status <> 'removed'
       ORDER BY id
         FOR UPDATE`;
  }

  /** One workspace of the org, locked FOR UPDATE (`share`: FOR SHARE — it must stay as read, e.g. as a parent). */
  async lockOne(orgId: string, id: string, mode: 'update' | 'share'): Promise<LockedWorkspace | null> {
    const rows =
      mode === 'update'
        ? await this.tx.$queryRaw<LockedWorkspace[]>`
            SELECT id::text AS "id", parent_id::text AS "parentId", name, kind, status
              FROM workspaces WHERE org_id = ${orgId} AND id = ${id}::uuid FOR UPDATE`
        : await this.tx.$queryRaw<LockedWorkspace[]>`
            SELECT id::text AS "id", parent_id::text AS "parentId", name, kind, status
              FROM workspaces WHERE org_id = ${orgId} AND id = ${id}::uuid FOR SHARE`;
    return rows[0] ?? null;
  }

  /** The org's live platform root, locked FOR SHARE (it cannot be demoted or removed under us). */
  async lockPlatformRoot(orgId: string): Promise<LockedWorkspace | null> {
    const rows = await this.tx.$queryRaw<LockedWorkspace[]>`
      SELECT id::text AS "id", parent_id::text AS "parentId", name, kind, status
        FROM workspaces
       WHERE org_id = ${orgId} AND kind = 'platform' AND parent_id IS NULL AND status <> 'removed'
         FOR SHARE`;
    return rows[0] ?? null;
  }

  /** Live children of `parentId` among `names`. */
  async childrenNamed(parentId: string, names: string[]): Promise<string[]> {
    const rows = await this.tx.$queryRaw<{ name: string }[]>`
      SELECT name FROM workspaces
       WHERE parent_id = ${parentId}::uuid AND status <> 'removed' AND name = ANY(${names}::text[])
       ORDER BY name`;
    return rows.map((r) => r.name);
  }

  async hasLiveChildren(id: string): Promise<boolean> {
    const rows = await this.tx.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM (SELECT 1 FROM workspaces WHERE parent_id = ${id}::uuid AND status <> 'removed' LIMIT 1) c`;
    return (rows[0]?.n ?? 0) > 0;
  }

  async insert(row: { id: string; orgId: string; parentId: string | null; name: string; createdBy: string | null }): Promise<WorkspaceRow> {
    const rows = await this.tx.$queryRaw<WorkspaceRow[]>`
      INSERT INTO workspaces (id, org_id, parent_id, name, kind, status, created_by)
      VALUES (${row.id}::uuid, ${row.orgId}, ${row.parentId}::uuid, ${row.name}, 'workspace', 'offline', ${row.createdBy})
      RETURNING ${WORKSPACE_HEAD}, status,
                ${WORKSPACE_TAIL}`;
    const created = rows[0];
    if (!created) throw new Error(`workspace ${row.id}: the INSERT returned no row`);
    return created;
  }

  /** Turns other platform roots into plain workspaces (the install re-parents them next). */
  demote(ids: string[]): Promise<number> {
    return this.tx.$executeRaw`UPDATE workspaces SET kind = 'workspace', updated_at = now() WHERE id = ANY(${ids}::uuid[]) AND kind = 'platform'`;
  }

  /**
   * Inserts the platform agent, or makes the existing row the org's platform root with this name. A new (or revived
   * removed) row starts `offline` with no heartbeat and no removal; a live one keeps its status and heartbeat.
   */
  async upsertPlatformAgent(row: { id: string; orgId: string; name: string }): Promise<void> {
    const rows = await this.tx.$queryRaw<{ id: string }[]>`
      INSERT INTO workspaces AS w (id, org_id, parent_id, name, kind, status)
      VALUES (${row.id}::uuid, ${row.orgId}, NULL, ${row.name}, 'platform', 'offline')
      ON CONFLICT (id) DO UPDATE
         SET parent_id = NULL, name = EXCLUDED.name, kind = 'platform', updated_at = now(),
             status = CASE WHEN w.status = 'removed' THEN 'offline' ELSE w.status END,
             last_heartbeat_at = CASE WHEN w.status = 'removed' THEN NULL ELSE w.last_heartbeat_at END,
             removed_by = CASE WHEN w.status = 'removed' THEN NULL ELSE w.removed_by END,
             removed_at = CASE WHEN w.status = 'removed' THEN NULL ELSE w.removed_at END
       WHERE w.org_id = EXCLUDED.org_id
      RETURNING id::text AS id`;
    if (!rows[0]) throw new Error('platform agent id belongs to another org');
  }

  reparent(ids: string[], parentId: string): Promise<number> {
    return this.tx.$executeRaw`UPDATE workspaces SET parent_id = ${parentId}::uuid, updated_at = now() WHERE id = ANY(${ids}::uuid[])`;
  }

  /**
   * Moves the allowlists of `fromRoots` onto `toRoot` as their deduplicated union: per plugin the earliest
   * enablement wins (with its enabled_by), also against a row `toRoot` already has; then deletes the old rows.
   * Returns the number of distinct plugins carried over. The audit, by the installer: `moved_out` on each former
   * root per row deleted; `moved_in` on `toRoot` per row the insert changed (new, or an earlier enablement taking
   * over) — none for a plugin `toRoot` already allowed earlier.
   */
  async moveAllowlist(orgId: string, fromRoots: string[], toRoot: string, by: string): Promise<number> {
    const [{ n }] = await this.tx.$queryRaw<{ n: number }[]>`
      SELECT count(DISTINCT plugin)::int AS n FROM org_plugin_allowlist WHERE root_workspace_id = ANY(${fromRoots}::uuid[])`;
    await this.tx.$executeRaw`
      WITH moved AS (
        INSERT INTO org_plugin_allowlist AS a (root_workspace_id, plugin, enabled_by, enabled_at)
        SELECT DISTINCT ON (plugin) ${toRoot}::uuid, plugin, enabled_by, enabled_at
          FROM org_plugin_allowlist
         WHERE root_workspace_id = ANY(${fromRoots}::uuid[])
         ORDER BY plugin, enabled_at, enabled_by
        ON CONFLICT (root_workspace_id, plugin) DO UPDATE
           SET enabled_by = EXCLUDED.enabled_by, enabled_at = EXCLUDED.enabled_at
         WHERE EXCLUDED.enabled_at < a.enabled_at
        RETURNING plugin
      )
      INSERT INTO plugin_changes (org_id, root_workspace_id, plugin, change, changed_by)
      SELECT ${orgId}, ${toRoot}::uuid, plugin, 'moved_in', ${by} FROM moved ORDER BY plugin`;
    await this.tx.$executeRaw`
      WITH gone AS (
        DELETE FROM org_plugin_allowlist WHERE root_workspace_id = ANY(${fromRoots}::uuid[]) RETURNING root_workspace_id, plugin
      )
      INSERT INTO plugin_changes (org_id, root_workspace_id, plugin, change, changed_by)
      SELECT ${orgId}, root_workspace_id, plugin, 'moved_out', ${by} FROM gone ORDER BY root_workspace_id, plugin`;
    return n;
  }

  /** `by`: the remover's authz subject, kept with the time (the row stays, marked removed). */
  markRemoved(id: string, by: string): Promise<number> {
    return this.tx.$executeRaw`
      UPDATE workspaces SET status = 'removed', removed_by = ${by}, removed_at = now(), updated_at = now()
       WHERE id = ${id}::uuid AND status <> 'removed'`;
  }

  /** A removed root's allowlist goes: each plugin it allowed is `disabled` in the audit, by the remover. */
  clearAllowlist(orgId: string, rootId: string, by: string): Promise<number> {
    return this.tx.$executeRaw`
      WITH gone AS (DELETE FROM org_plugin_allowlist WHERE root_workspace_id = ${rootId}::uuid RETURNING plugin)
      INSERT INTO plugin_changes (org_id, root_workspace_id, plugin, change, changed_by)
      SELECT ${orgId}, ${rootId}::uuid, plugin, 'disabled', ${by} FROM gone ORDER BY plugin`;
  }

  /**
   * Enables a plugin on a root; an already enabled plugin keeps its first enablement. Returns the row. Its `enabled`
   * line is written with the row, in one statement; enabling what is enabled writes neither.
   */
  async enablePlugin(orgId: string, rootId: string, plugin: string, enabledBy: string): Promise<AllowlistRow> {
    // DO UPDATE ... WHERE false updates nothing but locks the row it conflicts with (DO NOTHING would not): a
    // concurrent disable cannot delete it before the read-back below, which therefore always finds it.
    const inserted = await this.tx.$queryRaw<AllowlistRow[]>`
      WITH added AS (
        INSERT INTO org_plugin_allowlist AS a (root_workspace_id, plugin, enabled_by)
        VALUES (${rootId}::uuid, ${plugin}, ${enabledBy})
        ON CONFLICT (root_workspace_id, plugin) DO UPDATE SET enabled_by = a.enabled_by WHERE false
        RETURNING root_workspace_id, plugin, enabled_by, enabled_at
      ), line AS (
        INSERT INTO plugin_changes (org_id, root_workspace_id, plugin, change, changed_by)
        SELECT ${orgId}, root_workspace_id, plugin, 'enabled', enabled_by FROM added
      )
      SELECT root_workspace_id::text AS "workspaceId", plugin, enabled_by AS "enabledBy", enabled_at AS "enabledAt" FROM added`;
    if (inserted[0]) return inserted[0];
    const existing = await this.tx.$queryRaw<AllowlistRow[]>`
      SELECT root_workspace_id::text AS "workspaceId", plugin, enabled_by AS "enabledBy", enabled_at AS "enabledAt"
        FROM org_plugin_allowlist WHERE root_workspace_id = ${rootId}::uuid AND plugin = ${plugin}`;
    const found = existing[0];
    if (!found) throw new Error(`plugin "${plugin}" on ${rootId}: neither inserted nor found`);
    return found;
  }

  /** Its `disabled` line is written with the delete; disabling what is not enabled writes nothing. */
  disablePlugin(orgId: string, rootId: string, plugin: string, by: string): Promise<number> {
    return this.tx.$executeRaw`
      WITH gone AS (DELETE FROM org_plugin_allowlist WHERE root_workspace_id = ${rootId}::uuid AND plugin = ${plugin} RETURNING plugin)
      INSERT INTO plugin_changes (org_id, root_workspace_id, plugin, change, changed_by)
      SELECT ${orgId}, ${rootId}::uuid, plugin, 'disabled', ${by} FROM gone`;
  }

  /** The raw-SQL surface, for libs that write inside this transaction (the outbox, idempotency). */
  get sql(): Sql {
    return this.tx;
  }
}
