import { Injectable } from '@nestjs/common';
import { PrismaClient, type Prisma } from '@agentplane/db-hook-registry';
import { inTransaction } from '@agentplane/persistence';
import { hooksEvents } from '@agentplane/contracts';
import { pendingRegistrations, type PendingRegistrationsQuery } from '@agentplane/messaging';
import type { ConventionRow, HookRow, LiveChangeRow, OutputRow, ReleaseRow, RunRow } from './hook.js';

/** A transaction of this service's database; use cases pass it back into the repository. */
export type Tx = Prisma.TransactionClient;
type Db = PrismaClient | Tx;

const HOOK = { id: true, tenantId: true, name: true, feature: true, liveReleaseId: true, createdBy: true, createdAt: true } as const;
const RELEASE = { id: true, hookId: true, version: true, image: true, digest: true, config: true, sourceRef: true, builtBy: true, builtAt: true } as const;

export interface HookWithLive {
  hook: HookRow;
  liveVersion: number;
}

/**
 * The only file that touches the hook registry's Prisma client. There is no method that updates or deletes a
 * release, an output or a live change (the database rejects it too, by trigger).
 */
@Injectable()
export class HooksRepository {
  constructor(private readonly db: PrismaClient) {}

  /** One READ COMMITTED transaction, retried whole on deadlock/serialization failure. */
  transaction<R>(fn: (tx: Tx) => Promise<R>): Promise<R> {
    return inTransaction(this.db, fn, { timeoutMs: 30_000 });
  }

  /**
   * A hook, release or run of the tenant as its authz registration states it (who created it, and its parent: a
   * release's hook, a run's release); null when there is no such row. For authz-proxy's read-after-write.
   */
  async registrationFacts(tenantId: string, type: 'hook' | 'release' | 'run', id: string): Promise<{ by: string; parent?: string } | null> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return null;
    const rows =
      type === 'hook'
        ? await this.db.$queryRaw<Array<{ by: string }>>`SELECT created_by AS "by" FROM hooks WHERE id = ${id}::uuid AND tenant_id = ${tenantId}`
        : type === 'release'
          ? await this.db.$queryRaw<Array<{ by: string; parent: string }>>`
              SELECT r.built_by AS "by", 'hook:' || r.hook_id::text AS "parent"
                FROM hook_releases r JOIN hooks h ON h.id = r.hook_id
               WHERE r.id = ${id}::uuid AND h.tenant_id = ${tenantId}`
          : await this.db.$queryRaw<Array<{ by: string; parent: string }>>`
              SELECT started_by AS "by", 'release:' || release_id::text AS "parent" FROM hook_runs WHERE id = ${id}::uuid AND tenant_id = ${tenantId}`;
    return rows[0] ?? null;
  }

  /** The tenant's hooks, releases and runs, counted (authz tenant status: rows against registrations). */
  async countsInTenant(tenantId: string): Promise<{ hook: number; release: number; run: number }> {
    const rows = await this.db.$queryRaw<Array<{ hook: number; release: number; run: number }>>`
      SELECT (SELECT count(*) FROM hooks WHERE tenant_id = ${tenantId})::float8 AS hook,
             (SELECT count(*) FROM hook_releases r JOIN hooks h ON h.id = r.hook_id WHERE h.tenant_id = ${tenantId})::float8 AS release,
             (SELECT count(*) FROM hook_runs WHERE tenant_id = ${tenantId})::float8 AS run`;
    return rows[0] ?? { hook: 0, release: 0, run: 0 };
  }

  /** The tenant's registrations of a type still on their way to authz-proxy (DESIGN §3: its lookup lists them). */
  pendingRegistrations(tenantId: string, q: PendingRegistrationsQuery) {
    return pendingRegistrations(this.db, hooksEvents, tenantId, q);
  }

  // ---- hooks -------------------------------------------------------------------------------------------------

  /**
   * Locks the hook row (`FOR UPDATE`) for the rest of the transaction: every release of a hook is minted under this
   * lock, so versions are gap-free and the digest check cannot race. Later statements of a READ COMMITTED
   * transaction see everything committed before the lock was granted.
   */
  async lockHook(tx: Tx, tenantId: string, name: string): Promise<HookRow | null> {
    const rows = await tx.$queryRaw<HookRow[]>`
      SELECT id::text AS "id", tenant_id AS "tenantId", name, feature, live_release_id::text AS "liveReleaseId",
             created_by AS "createdBy", created_at AS "createdAt"
        FROM hooks
       WHERE tenant_id = ${tenantId} AND name = ${name}
         FOR UPDATE`;
    return rows[0] ?? null;
  }

  /**
   * Inserts a hook whose live pointer names a release inserted later in the same transaction (deferred FK).
   * Returns false when the name is taken: a concurrent insert of the same name waits for the other transaction and
   * then does nothing, so the caller locks the committed row instead.
   */
  /** The new hook's createdAt (the database's), or null when the name is taken. */
  async insertHookIfAbsent(tx: Tx, row: Omit<HookRow, 'createdAt'>): Promise<Date | null> {
    const rows = await tx.$queryRaw<Array<{ createdAt: Date }>>`
      INSERT INTO hooks (id, tenant_id, name, feature, live_release_id, created_by)
      VALUES (${row.id}::uuid, ${row.tenantId}, ${row.name}, ${row.feature}, ${row.liveReleaseId}::uuid, ${row.createdBy})
      ON CONFLICT (tenant_id, name) DO NOTHING
      RETURNING created_at AS "createdAt"`;
    return rows[0]?.createdAt ?? null;
  }

  async setLiveRelease(tx: Tx, hookId: string, releaseId: string): Promise<void> {
    await tx.hook.update({ where: { id: hookId }, data: { liveReleaseId: releaseId } });
  }

  async findHook(tenantId: string, name: string, db: Db = this.db): Promise<HookWithLive | null> {
    const row = await db.hook.findUnique({ where: { tenantId_name: { tenantId, name } }, select: { ...HOOK, liveRelease: { select: { version: true } } } });
    if (!row) return null;
    const { liveRelease, ...hook } = row;
    return { hook, liveVersion: liveRelease.version };
  }

  async findHookById(tenantId: string, id: string, db: Db = this.db): Promise<HookWithLive | null> {
    const row = await db.hook.findFirst({ where: { id, tenantId }, select: { ...HOOK, liveRelease: { select: { version: true } } } });
    if (!row) return null;
    const { liveRelease, ...hook } = row;
    return { hook, liveVersion: liveRelease.version };
  }

  /** Keyset page by name. */
  async listHooks(tenantId: string, limit: number, afterName: string | undefined): Promise<HookWithLive[]> {
    const rows = await this.db.hook.findMany({
      where: { tenantId, ...(afterName !== undefined ? { name: { gt: afterName } } : {}) },
      orderBy: { name: 'asc' },
      take: limit,
      select: { ...HOOK, liveRelease: { select: { version: true } } },
    });
    return rows.map(({ liveRelease, ...hook }) => ({ hook, liveVersion: liveRelease.version }));
  }

  // ---- releases (insert and read only) -----------------------------------------------------------------------

  findReleaseByDigest(tx: Tx, hookId: string, digest: string): Promise<ReleaseRow | null> {
    return tx.hookRelease.findUnique({ where: { hookId_digest: { hookId, digest } }, select: RELEASE });
  }

  findReleaseByVersion(hookId: string, version: number, db: Db = this.db): Promise<ReleaseRow | null> {
    return db.hookRelease.findUnique({ where: { hookId_version: { hookId, version } }, select: RELEASE });
  }

  findReleaseById(id: string, db: Db = this.db): Promise<ReleaseRow | null> {
    return db.hookRelease.findUnique({ where: { id }, select: RELEASE });
  }

  /** The next version of a hook; only meaningful under the hook's row lock. */
  async nextVersion(tx: Tx, hookId: string): Promise<number> {
    const agg = await tx.hookRelease.aggregate({ where: { hookId }, _max: { version: true } });
    return (agg._max.version ?? 0) + 1;
  }

  insertRelease(tx: Tx, row: Omit<ReleaseRow, 'builtAt'>): Promise<ReleaseRow> {
    return tx.hookRelease.create({
      data: { ...row, config: row.config as Prisma.InputJsonValue },
      select: RELEASE,
    });
  }

  /** Keyset page, newest version first. */
  listReleases(hookId: string, limit: number, beforeVersion: number | undefined): Promise<ReleaseRow[]> {
    return this.db.hookRelease.findMany({
      where: { hookId, ...(beforeVersion !== undefined ? { version: { lt: beforeVersion } } : {}) },
      orderBy: { version: 'desc' },
      take: limit,
      select: RELEASE,
    });
  }

  // ---- live pointer audit ------------------------------------------------------------------------------------

  async insertLiveChange(tx: Tx, row: { id: string; tenantId: string; hookId: string; fromVersion: number | null; toVersion: number; reason: string; changedBy: string }): Promise<void> {
    await tx.liveChange.create({ data: row });
  }

  /**
   * Keyset page, newest change first, before `before`. Its `changedAt` is text, to the microsecond as `changedAtText`
   * gives it: a Date holds milliseconds, and a page after `….000700` would skip `….000500`. Millisecond text (a cursor
   * given before) still pages as it did.
   */
  listLiveChanges(hookId: string, limit: number, before: { changedAt: string; id: string } | undefined): Promise<LiveChangeRow[]> {
    const at = before?.changedAt ?? null;
    return this.db.$queryRaw<LiveChangeRow[]>`
      SELECT id::text AS "id", from_version AS "fromVersion", to_version AS "toVersion", reason, changed_by AS "changedBy",
             changed_at AS "changedAt", to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "changedAtText"
        FROM live_changes
       WHERE hook_id = ${hookId}::uuid AND (${at}::timestamptz IS NULL OR (changed_at, id) < (${at}::timestamptz, ${before?.id ?? null}::uuid))
       ORDER BY changed_at DESC, live_changes.id DESC -- the column: a bare "id" would be the text alias above
       LIMIT ${limit}`;
  }

  // ---- runs and outputs --------------------------------------------------------------------------------------

  /**
   * Starts a run on the hook's live release, read once in the same statement: the snapshot. A later move of the
   * live pointer does not touch the run.
   */
  async insertRunOnLiveRelease(tx: Tx, tenantId: string, name: string, run: { id: string; startedBy: string }): Promise<RunRow | null> {
    const rows = await tx.$queryRaw<RunRow[]>`
      INSERT INTO hook_runs (id, tenant_id, hook_id, release_id, started_by)
      SELECT ${run.id}::uuid, h.tenant_id, h.id, h.live_release_id, ${run.startedBy}
        FROM hooks h
       WHERE h.tenant_id = ${tenantId} AND h.name = ${name}
      RETURNING id::text AS "id", tenant_id AS "tenantId", hook_id::text AS "hookId", release_id::text AS "releaseId", status,
                started_by AS "startedBy", started_at AS "startedAt", finished_at AS "finishedAt",
                duration_ms::float8 AS "durationMs", oom_retries AS "oomRetries"`;
    return rows[0] ?? null;
  }

  findRun(tenantId: string, id: string, db: Db = this.db): Promise<RunRow | null> {
    return db.hookRun.findFirst({ where: { id, tenantId } });
  }

  /** Finishes a running run once; null when it is not running (finished already, or not the caller's). */
  async finishRun(tx: Tx, tenantId: string, id: string, status: string, oomRetries: number): Promise<RunRow | null> {
    const rows = await tx.$queryRaw<RunRow[]>`
      UPDATE hook_runs
         SET status = ${status}, finished_at = clock_timestamp(), oom_retries = ${oomRetries},
             duration_ms = round(extract(epoch FROM clock_timestamp() - started_at) * 1000)::bigint
       WHERE id = ${id}::uuid AND tenant_id = ${tenantId} AND status = 'running'
      RETURNING id::text AS "id", tenant_id AS "tenantId", hook_id::text AS "hookId", release_id::text AS "releaseId", status,
                started_by AS "startedBy", started_at AS "startedAt", finished_at AS "finishedAt",
                duration_ms::float8 AS "durationMs", oom_retries AS "oomRetries"`;
    return rows[0] ?? null;
  }

  /** Locks a run row so outputs are never added to a run that is finishing at the same moment. */
  async lockRun(tx: Tx, tenantId: string, id: string): Promise<{ id: string; status: string } | null> {
    const rows = await tx.$queryRaw<Array<{ id: string; status: string }>>`
      SELECT id::text AS "id", status FROM hook_runs WHERE id = ${id}::uuid AND tenant_id = ${tenantId} FOR SHARE`;
    return rows[0] ?? null;
  }

  async insertOutputs(tx: Tx, tenantId: string, runId: string, rows: Array<{ id: string; payload: unknown }>): Promise<void> {
    await tx.output.createMany({ data: rows.map((r) => ({ id: r.id, tenantId, runId, payload: r.payload as Prisma.InputJsonValue })) });
  }

  findOutput(tenantId: string, id: string): Promise<OutputRow | null> {
    return this.db.output.findFirst({ where: { id, tenantId }, select: { id: true, runId: true, payload: true, createdAt: true } });
  }

  // ---- conventions -------------------------------------------------------------------------------------------

  findConvention(tenantId: string, slug: string, db: Db = this.db): Promise<ConventionRow | null> {
    return db.convention.findUnique({ where: { tenantId_slug: { tenantId, slug } } }) as Promise<ConventionRow | null>;
  }

  /** Locks the convention's slug for the transaction (the row may not exist yet, so an advisory lock). */
  async lockConventionSlug(tx: Tx, tenantId: string, slug: string): Promise<void> {
    await tx.$queryRaw`SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtextextended(${`hook-registry:convention:${JSON.stringify([tenantId, slug])}`}, 0))`;
  }

  /** Creates or replaces a convention; its createdAt and updatedAt are the database's (a Prisma update sends ours). */
  async upsertConvention(tx: Tx, row: { id: string; tenantId: string; slug: string; schema: unknown; hookNames: string[]; updatedBy: string }): Promise<ConventionRow> {
    const rows = await tx.$queryRaw<ConventionRow[]>`
      INSERT INTO conventions (id, tenant_id, slug, schema, hook_names, updated_by)
      VALUES (${row.id}::uuid, ${row.tenantId}, ${row.slug}, ${JSON.stringify(row.schema)}::jsonb, ${row.hookNames}::text[], ${row.updatedBy})
      ON CONFLICT (tenant_id, slug) DO UPDATE
        SET schema = EXCLUDED.schema, hook_names = EXCLUDED.hook_names, updated_by = EXCLUDED.updated_by, updated_at = now()
      RETURNING id::text AS "id", tenant_id AS "tenantId", slug, schema, hook_names AS "hookNames", updated_by AS "updatedBy",
                created_at AS "createdAt", updated_at AS "updatedAt"`;
    const convention = rows[0];
    if (!convention) throw new Error(`convention "${row.slug}": the upsert returned no row`);
    return convention;
  }
}
