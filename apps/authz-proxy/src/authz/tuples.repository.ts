import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { DomainError } from '@agentplane/domain';
import { resourceTypeOf, type Action, type RolloutMode } from '@agentplane/contracts';
import { PgSql, SqlPool, TurnBatch, inTransaction, isStatementError, pruneOlderThan, type Asked, type SqlTx } from '@agentplane/persistence';
import type { CheckFacts } from './decision.js';

export type Tx = SqlTx;

export interface Registration {
  resource: string;
  tenant: string;
  owner?: string;
  parent?: string;
}

/**
 * A registration or reparent naming another tenant's parent: NOT_FOUND to a caller, exactly as a missing parent (no
 * tenant learns of another's resources), but final to the event consumer, which retries only a missing one.
 */
export class ForeignParentError extends DomainError {
  constructor() {
    super('NOT_FOUND', 'the parent is not registered', { field: 'parent' });
  }
}

/**
 * A resource event as the consumer applies it (decoded, its origin checked): `eventId` makes it apply once, `at` (when
 * it was written, its outbox row) orders it against its resource's deregistration and its other parent changes.
 */
export type ResourceEvent = { eventId: string; subject: string; at?: Date } & (
  | { kind: 'register'; registration: Registration }
  | { kind: 'reparent'; resource: string; parent: string }
  | { kind: 'deregister'; resource: string }
);

/**
 * The read path (check, lookup) runs on its own pool, so registrations never queue ahead of a check; check sits on
 * every request of every service, so it is one round trip of one prepared statement (SqlPool prepares them all).
 * Writes run on the service's SqlPool (shared with its Prisma client): registrations arrive with every task and agent.
 */
@Injectable()
export class ReadPool extends SqlPool implements OnApplicationShutdown {
  /** The same pool, its statements planned at each execution for the actual sizes (no cached generic plan). */
  readonly unprepared: PgSql;

  constructor(opts: { url: string; max: number }) {
    super({ ...opts, applicationName: 'agentplane-authz-read' });
    this.unprepared = new PgSql(this.pool, false);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.end();
  }
}

// Grants are inherited through `parent` up to $5 hops; every join stays inside the asker's tenant ($4).
// Written so that its only plan is one index probe per hop, whatever the table's statistics: a statement is prepared
// once per connection and its generic plan is kept, so a plan chosen while a tenant's tables were small (a new
// database, before autovacuum's first ANALYZE) must not turn into a scan of every task of an agent as they grow. Hence
// the LATERAL … LIMIT 1 (at most one parent; not flattened into a join the planner may reorder), and the asker's
// grants probed per hop the same way. Every probe names all of (subject, relation, resource_type, resource), so
// whichever index a plan picks it is a point lookup: the owner probe without resource_type scanned every resource the
// asker owns (every task a worker created: 95 pages at 6,000 tasks), and the grant probes, as EXISTS … OR EXISTS, were
// hashed subplans reading every grant the asker holds (issue 19's profile found both).
/** CHECK_FACTS for the question whose resource, subject, action, tenant and depth are the given SQL expressions. */
const checkFactsSql = (p: { resource: string; subject: string; action: string; tenant: string; maxDepth: string }) => `
WITH RECURSIVE chain(resource, depth) AS (
    SELECT ${p.resource}::text, 0
  UNION ALL
    SELECT p.subject, c.depth + 1
      FROM chain c
     CROSS JOIN LATERAL (SELECT t.subject FROM tuples t
                          WHERE t.resource = c.resource AND t.relation = 'parent' AND t.tenant_id = ${p.tenant}
                          LIMIT 1) p
     WHERE c.depth < ${p.maxDepth}
)
SELECT (SELECT t.tenant_id FROM tuples t WHERE t.resource = ${p.resource} AND t.relation = 'tenant') AS resource_tenant,
       (SELECT m.mode FROM tenant_modes m WHERE m.tenant_id = ${p.tenant}) AS mode,
       EXISTS (SELECT 1 FROM tuples o
                WHERE o.resource = ${p.resource} AND o.relation = 'owner' AND o.subject = ${p.subject} AND o.tenant_id = ${p.tenant}
                  AND o.resource_type = split_part(${p.resource}, ':', 1)) AS owner,
       (SELECT min(c.depth) FROM chain c
         CROSS JOIN LATERAL (SELECT 1 FROM tuples g
                              WHERE g.subject = ${p.subject} AND g.relation IN (${p.action}, 'admin') AND g.resource_type = split_part(c.resource, ':', 1)
                                AND g.resource = c.resource AND g.tenant_id = ${p.tenant}
                              LIMIT 1) hit
       ) AS grant_depth,
       coalesce((SELECT v.rev FROM authz_revisions v WHERE v.tenant_id = ${p.tenant}), 0)::text AS revision`;
export const CHECK_FACTS = checkFactsSql({ resource: '$1', subject: '$2', action: '$3', tenant: '$4', maxDepth: '$5' });

/**
 * CHECK_FACTS for many questions at once (issue 19: the checks that reach the repository in one event-loop turn go
 * out as one statement, one round trip): the same probes for each question of the JSON array `$1` (checkManyParam),
 * answered by `ord`. The questions are one JSON parameter rather than five arrays so that PostgreSQL keeps one generic
 * plan for the statement: with arrays, a custom plan knew each call's array length and so always looked cheaper than
 * the generic one, and every call was planned afresh (pg_stat_statements: 1,461 plans in 1,533 calls, twice the time of
 * their execution). jsonb_to_recordset has no row estimate of its own in either plan.
 */
export const CHECK_FACTS_MANY = `
SELECT q.ord, f.resource_tenant, f.mode, f.owner, f.grant_depth, f.revision
  FROM jsonb_to_recordset($1::jsonb) AS q(ord int, resource text, subject text, action text, tenant_id text, max_depth int)
 CROSS JOIN LATERAL (${checkFactsSql({ resource: 'q.resource', subject: 'q.subject', action: 'q.action', tenant: 'q.tenant_id', maxDepth: 'q.max_depth' })}) f
 ORDER BY q.ord`;

/** At most this many checks in one statement. */
export const CHECK_MANY_MAX = 64;

/** CHECK_FACTS_MANY's parameter: the questions in order, each with its `ord` (1-based). */
export function checkManyParam(questions: readonly FactsQuestion[]): string {
  return JSON.stringify(
    questions.map((q, i) => ({ ord: i + 1, resource: q.resource, subject: q.subject, action: q.action, tenant_id: q.tenantId, max_depth: q.maxDepth })),
  );
}

export type FactsQuestion = { resource: string; subject: string; action: Action; tenantId: string; maxDepth: number };

type PendingCheck = Asked<{ q: FactsQuestion }, CheckFacts>;

// The ancestors of a would-be parent ($1, at depth 1) within its tenant ($2), up to depth $3 + 1; one index probe per
// hop for the same reason as CHECK_FACTS (it runs in every registration that names a parent).
export const ANCESTORS = `
WITH RECURSIVE up(resource, depth) AS (
    SELECT $1::text, 1
  UNION ALL
    SELECT p.subject, u.depth + 1
      FROM up u
     CROSS JOIN LATERAL (SELECT t.subject FROM tuples t
                          WHERE t.resource = u.resource AND t.relation = 'parent' AND t.tenant_id = $2
                          LIMIT 1) p
     WHERE u.depth <= $3
)
SELECT resource, depth FROM up`;

// Resources of a type the subject may act on: granted ones and their descendants (bounded), plus owned ones.
// The children of each resource in the tree are one index probe (the LATERAL … OFFSET 0 is not flattened into a join
// the planner could turn into a scan of every parent tuple of the tenant), so a lookup reads the granted subtrees,
// not the tenant. It is planned afresh at each call (see ReadPool.unprepared): a plan cached while the tables were
// small would scan them whole inside that LATERAL once they have grown.
export const LOOKUP_GRANTED = `
WITH RECURSIVE tree(resource, depth) AS (
    SELECT g.resource, 0 FROM tuples g
     WHERE g.subject = $1 AND g.relation IN ($2, 'admin') AND g.tenant_id = $3
  UNION
    SELECT c.resource, t.depth + 1
      FROM tree t
     CROSS JOIN LATERAL (SELECT k.resource FROM tuples k
                          WHERE k.subject = t.resource AND k.relation = 'parent' AND k.tenant_id = $3
                         OFFSET 0) c
     WHERE t.depth < $4
)
SELECT DISTINCT resource FROM (
    SELECT resource FROM tree
  UNION ALL
    SELECT o.resource FROM tuples o
     WHERE o.subject = $1 AND o.relation = 'owner' AND o.tenant_id = $3 AND o.resource_type = $5 AND $2 <> 'admin'
) r
WHERE split_part(resource, ':', 1) = $5 AND resource > $6
ORDER BY resource
LIMIT $7`;

// Those of the resources $1 with no tenant tuple and no record of a deregistration.
export const UNREGISTERED_OF = `
SELECT r.resource FROM unnest($1::text[]) AS r(resource)
 WHERE NOT EXISTS (SELECT 1 FROM tuples t WHERE t.resource = r.resource AND t.relation = 'tenant')
   AND NOT EXISTS (SELECT 1 FROM deregistered_resources d WHERE d.resource = r.resource)`;

// The registered ones of the parents ($1) named by a batch of registrations, held FOR SHARE against a concurrent
// deregister (as assertParent holds one), with the length of each one's chain of parents within its tenant (itself
// = 1), counted up to $2 + 1: one index probe per hop, as in ANCESTORS. The parents are a JSON array ($1), not a text[],
// for the reason CHECK_FACTS_MANY's questions are: so that PostgreSQL keeps the generic plan instead of planning each batch.
export const PARENT_CHAINS = `
WITH RECURSIVE p AS (
  SELECT t.resource, t.tenant_id FROM jsonb_array_elements_text($1::jsonb) AS r(resource)
   CROSS JOIN LATERAL (SELECT t.resource, t.tenant_id FROM tuples t
                        WHERE t.resource = r.resource AND t.relation = 'tenant' LIMIT 1 FOR SHARE) t
), up(start, resource, tenant_id, depth) AS (
    SELECT p.resource, p.resource, p.tenant_id, 1 FROM p
  UNION ALL
    SELECT u.start, x.subject, u.tenant_id, u.depth + 1
      FROM up u
     CROSS JOIN LATERAL (SELECT t.subject FROM tuples t
                          WHERE t.resource = u.resource AND t.relation = 'parent' AND t.tenant_id = u.tenant_id
                          LIMIT 1) x
     WHERE u.depth <= $2
)
SELECT start AS resource, min(tenant_id) AS tenant_id, max(depth)::int AS chain FROM up GROUP BY start`;

// What a batch of registrations must know of its resources ($1): their structural tuples, a child of each of those
// naming a parent ($2), and the deregistrations of them and their parents ($3). One index probe per resource through
// LATERAL, like PARENT_CHAINS: a `resource = ANY($1)` prepared while the table was nearly empty kept a plan scanning
// all of it, and that scan, once per batch, was most of authz-proxy's database time under load (issue 19).
export const REGISTRATION_STATE = `
SELECT r.resource, t.relation, t.subject, NULL::timestamptz AS at FROM unnest($1::text[]) AS r(resource)
 CROSS JOIN LATERAL (SELECT t.relation, t.subject FROM tuples t
                      WHERE t.resource = r.resource AND t.relation IN ('tenant', 'owner', 'parent') LIMIT 3) t
UNION ALL
SELECT r.resource, 'child', c.resource, NULL FROM unnest($2::text[]) AS r(resource)
 CROSS JOIN LATERAL (SELECT t.resource FROM tuples t WHERE t.subject = r.resource AND t.relation = 'parent' LIMIT 1) c
UNION ALL
SELECT r.resource, 'deregistered', d.tenant_id, d.deregistered_at FROM unnest($3::text[]) AS r(resource)
 CROSS JOIN LATERAL (SELECT d.tenant_id, d.deregistered_at FROM deregistered_resources d WHERE d.resource = r.resource) d`;

// Deregistrations ($1, written at $2 or else now): every tuple of each resource, found by one index probe per resource
// (as REGISTRATION_STATE, so that a plan kept from a small table never scans the grown one) and deleted by its ctid
// (no statement ever updates a tuple, so the version the probe found is the row; one deleted meanwhile is skipped, as
// by a DELETE … WHERE resource), and each resource's record in deregistered_resources.
export const DEREGISTER = `
WITH gone AS (
  DELETE FROM tuples WHERE ctid = ANY(ARRAY(
    SELECT t.ctid FROM unnest($1::text[]) AS r(resource)
     CROSS JOIN LATERAL (SELECT t.ctid FROM tuples t WHERE t.resource = r.resource OFFSET 0) t))
  RETURNING resource, relation, tenant_id
)
INSERT INTO deregistered_resources (resource, tenant_id, deregistered_at)
SELECT d.resource, (SELECT g.tenant_id FROM gone g WHERE g.resource = d.resource AND g.relation = 'tenant'), coalesce(d.at, now())
  FROM unnest($1::text[], $2::timestamptz[]) AS d(resource, at)
ON CONFLICT (resource) DO UPDATE
   SET tenant_id = coalesce(EXCLUDED.tenant_id, deregistered_resources.tenant_id),
       deregistered_at = greatest(EXCLUDED.deregistered_at, deregistered_resources.deregistered_at),
       applied_at = now()
RETURNING tenant_id`;

// A deregister call ($1): every tuple of the resource and, if it was registered, its record in deregistered_resources
// as of now (a call has no time of its writing), so that a registration that was written before it and arrives after
// it (a late register call or event) changes nothing, as after a deregistration event. An id not registered gets no
// record: it may be another tenant's resource on its way. A row per tuple removed, with its tenant.
export const DEREGISTER_CALL = `
WITH gone AS (DELETE FROM tuples WHERE resource = $1 RETURNING relation, tenant_id),
recorded AS (
  INSERT INTO deregistered_resources (resource, tenant_id, deregistered_at)
  SELECT $1, g.tenant_id, now() FROM gone g WHERE g.relation = 'tenant'
  ON CONFLICT (resource) DO UPDATE
     SET tenant_id = EXCLUDED.tenant_id,
         deregistered_at = greatest(EXCLUDED.deregistered_at, deregistered_resources.deregistered_at),
         applied_at = now())
SELECT tenant_id FROM gone`;

/** A tenant's revision of its decisions (authz_revisions), as a decimal string. */
export interface TenantRevision {
  tenant: string;
  rev: string;
}

/**
 * Bumps the revision of each tenant the subquery `tenants` yields (a tenant's first bump makes it 1: checks read 0
 * while it has no row), in tenant order, so that two transactions bumping several never wait on each other in a cycle.
 */
const BUMP_REVISIONS_OF = (tenants: string) => `
INSERT INTO authz_revisions AS r (tenant_id, rev)
SELECT t.tenant_id, 1 FROM ${tenants} AS t(tenant_id) ORDER BY t.tenant_id
ON CONFLICT (tenant_id) DO UPDATE SET rev = r.rev + 1, changed_at = clock_timestamp()
RETURNING r.tenant_id AS tenant, r.rev::text AS rev`;

/** The last statement of a transaction that took access away: the next revision of each of its tenants ($1). */
const BUMP_REVISIONS = BUMP_REVISIONS_OF('unnest($1::text[])');

/**
 * revoke: the grant ($1-$4) removed and, if there was one, the revocation in the audit (by $5) and its tenant's revision
 * bumped, in one statement (a data-modifying WITH runs to completion whether or not the rest reads it).
 */
const REVOKE = `
WITH gone AS (DELETE FROM tuples WHERE resource = $1 AND relation = $2 AND subject = $3 AND tenant_id = $4 RETURNING 1),
logged AS (
  INSERT INTO grant_changes (tenant_id, resource, action, subject, change, changed_by)
  SELECT $4, $1, $2, $3, 'revoked', $5 FROM gone)
${BUMP_REVISIONS_OF('(SELECT $4::text WHERE EXISTS (SELECT 1 FROM gone))')}`;

/** grant: the tuple ($1-$5) with who granted it ($6) and, when it is new, the grant in the audit, in one statement. */
const GRANT = `
WITH made AS (
  INSERT INTO tuples (resource, relation, subject, tenant_id, resource_type, granted_by) VALUES ($1, $2, $3, $4, $5, $6)
  ON CONFLICT (resource, relation, subject) DO NOTHING
  RETURNING 1)
INSERT INTO grant_changes (tenant_id, resource, action, subject, change, changed_by)
SELECT $4, $1, $2, $3, 'granted', $6 FROM made`;

/** A resource's ($1, tenant $2) action grants after ($3, $4) in (action, subject) order, $5 of them. */
const GRANTS_OF = `
SELECT relation AS action, subject, granted_by, created_at FROM tuples
 WHERE resource = $1 AND tenant_id = $2 AND relation <> ALL (ARRAY['tenant', 'owner', 'parent'])
   AND ($3::text IS NULL OR (relation, subject) > ($3::text, $4::text))
 ORDER BY relation, subject
 LIMIT $5`;

/** A resource's ($2, tenant $1) grant changes before id $3, newest first, $4 of them. */
const GRANT_HISTORY = `
SELECT id::text AS id, change, subject, action, changed_by, changed_at FROM grant_changes
 WHERE tenant_id = $1 AND resource = $2 AND ($3::bigint IS NULL OR id < $3::bigint)
 ORDER BY grant_changes.id DESC -- the column: a bare "id" is the text alias above, which sorts "10" before "9"
 LIMIT $4`;

/** setMode: the tenant's ($1) mode set and its revision bumped, in one statement. */
const SET_MODE = `
WITH m AS (
  INSERT INTO tenant_modes (tenant_id, mode, updated_by) VALUES ($1, $2, $3)
  ON CONFLICT (tenant_id) DO UPDATE SET mode = EXCLUDED.mode, updated_by = EXCLUDED.updated_by, updated_at = now()
  RETURNING tenant_id)
${BUMP_REVISIONS_OF('(SELECT tenant_id FROM m)')}`;

/** The revisions bumped in the last $1 milliseconds. */
const RECENT_REVISIONS = `
SELECT tenant_id AS tenant, rev::text AS rev FROM authz_revisions
 WHERE changed_at > clock_timestamp() - make_interval(secs => $1::double precision / 1000)`;

const LOOKUP_TENANT = `
SELECT resource FROM tuples
 WHERE subject = $1 AND relation = 'tenant' AND resource_type = $2 AND resource > $3
 ORDER BY resource
 LIMIT $4`;

interface FactsRow {
  resource_tenant: string | null;
  mode: RolloutMode | null;
  owner: boolean;
  grant_depth: number | null;
  revision: string | null;
}

const tenantSubject = (tenant: string) => `tenant:${tenant}`;

const factsOf = (r: FactsRow): CheckFacts => ({ resourceTenant: r.resource_tenant, mode: r.mode, owner: r.owner, grantDepth: r.grant_depth, revision: r.revision });

/** The only file that touches the authz database. */
@Injectable()
export class TuplesRepository {
  constructor(
    private readonly db: SqlPool,
    @Inject(ReadPool) private readonly read: ReadPool,
  ) {}

  // ---- reads (prepared, one round trip each) ----

  /**
   * The facts of one decision. The checks asked in one event-loop turn are read by one statement (CHECK_FACTS_MANY);
   * if the server refuses it, each is read on its own, so an error stays its own question's.
   */
  checkFacts(q: FactsQuestion): Promise<CheckFacts> {
    return this.checks.ask({ q });
  }

  private readonly checks = new TurnBatch<{ q: FactsQuestion }, CheckFacts>((pending) => this.checkGroupsOf(pending));

  private checkGroupsOf(pending: PendingCheck[]): void {
    for (let i = 0; i < pending.length; i += CHECK_MANY_MAX) {
      const group = pending.slice(i, i + CHECK_MANY_MAX);
      if (group.length === 1) this.checkOne(group[0]);
      else void this.checkMany(group);
    }
  }

  private checkOne(p: PendingCheck): void {
    const { q } = p;
    this.read.$queryRawUnsafe<FactsRow[]>(CHECK_FACTS, q.resource, q.subject, q.action, q.tenantId, q.maxDepth).then((rows) => {
      const r = rows[0];
      if (r) p.resolve(factsOf(r));
      else p.reject(new Error('the check query returned no row'));
    }, p.reject);
  }

  private async checkMany(group: PendingCheck[]): Promise<void> {
    let rows: Array<FactsRow & { ord: number }>;
    try {
      rows = await this.read.$queryRawUnsafe(CHECK_FACTS_MANY, checkManyParam(group.map((p) => p.q)));
    } catch (err) {
      if (isStatementError(err)) for (const p of group) this.checkOne(p);
      else for (const p of group) p.reject(err);
      return;
    }
    for (const [i, p] of group.entries()) {
      const r = rows[i];
      if (r && r.ord === i + 1) p.resolve(factsOf(r));
      else p.reject(new Error('the check query answered out of order'));
    }
  }

  /**
   * One resource's tuples that bear on a decision for `subject` (for explain, not a hot path): its tenant, parent and
   * owner, and the subject's grants of `action` or `admin` on it within the tenant.
   */
  async tuplesForExplain(q: { resource: string; subject: string; action: Action; tenantId: string }): Promise<Array<{ relation: string; subject: string; tenant_id: string }>> {
    return this.read.$queryRaw<Array<{ relation: string; subject: string; tenant_id: string }>>`
      SELECT relation, subject, tenant_id FROM tuples
       WHERE resource = ${q.resource}
         AND (relation IN ('tenant', 'parent') OR (subject = ${q.subject} AND relation IN (${q.action}, 'admin', 'owner') AND tenant_id = ${q.tenantId}))
       ORDER BY relation`;
  }

  async tenantOf(resource: string): Promise<string | null> {
    const rows = await this.read.$queryRaw<Array<{ tenant_id: string }>>`SELECT tenant_id FROM tuples WHERE resource = ${resource} AND relation = 'tenant'`;
    return rows[0]?.tenant_id ?? null;
  }

  /** The tenant's mode row: its mode, who set it and when; null while the tenant has the default. */
  async modeSettingOf(tenantId: string): Promise<{ mode: RolloutMode; updated_by: string | null; updated_at: Date } | null> {
    const rows = await this.read.$queryRaw<Array<{ mode: RolloutMode; updated_by: string | null; updated_at: Date }>>`
      SELECT mode, updated_by, updated_at FROM tenant_modes WHERE tenant_id = ${tenantId}`;
    return rows[0] ?? null;
  }

  async modeOf(tenantId: string): Promise<RolloutMode | null> {
    const rows = await this.read.$queryRaw<Array<{ mode: RolloutMode }>>`SELECT mode FROM tenant_modes WHERE tenant_id = ${tenantId}`;
    return rows[0]?.mode ?? null;
  }

  /** The tenant's registered resources per type (their `tenant` tuples). */
  async registeredByType(tenantId: string): Promise<Record<string, number>> {
    const rows = await this.read.$queryRaw<Array<{ resource_type: string; n: number }>>`
      SELECT resource_type, count(*)::float8 AS n FROM tuples
       WHERE subject = ${tenantSubject(tenantId)} AND relation = 'tenant'
       GROUP BY resource_type`;
    return Object.fromEntries(rows.map((r) => [r.resource_type, r.n]));
  }

  async shadowMismatchesOf(tenantId: string): Promise<number> {
    const rows = await this.read.$queryRaw<Array<{ n: number }>>`SELECT mismatches::float8 AS n FROM shadow_mismatches WHERE tenant_id = ${tenantId}`;
    return rows[0]?.n ?? 0;
  }

  async countShadowMismatch(tenantId: string): Promise<void> {
    await this.db.$executeRaw`INSERT INTO shadow_mismatches (tenant_id, mismatches) VALUES (${tenantId}, 1)
      ON CONFLICT (tenant_id) DO UPDATE SET mismatches = shadow_mismatches.mismatches + 1, last_at = now()`;
  }

  /** Up to `limit` resources of `type` in the tenant after `after`, ascending. */
  async resourcesOfTenant(tenantId: string, type: string, after: string, limit: number): Promise<string[]> {
    const rows = await this.read.$queryRawUnsafe<Array<{ resource: string }>>(LOOKUP_TENANT, tenantSubject(tenantId), type, after, limit);
    return rows.map((r) => r.resource);
  }

  /** Up to `limit` resources of `type` the subject owns or was granted `action` on (directly or through parents). */
  async resourcesOfSubject(q: { tenantId: string; subject: string; action: Action; type: string; after: string; limit: number; maxDepth: number }): Promise<string[]> {
    const rows = await this.read.unprepared.$queryRawUnsafe<Array<{ resource: string }>>(LOOKUP_GRANTED, q.subject, q.action, q.tenantId, q.maxDepth, q.type, q.after, q.limit);
    return rows.map((r) => r.resource);
  }

  /**
   * Those of `resources` this store knows nothing of yet: neither registered (no tenant tuple) nor recorded as
   * deregistered. A lookup decides them with their owner's pending registrations.
   */
  async unregisteredOf(resources: readonly string[]): Promise<Set<string>> {
    if (resources.length === 0) return new Set();
    const rows = await this.read.$queryRawUnsafe<Array<{ resource: string }>>(UNREGISTERED_OF, resources);
    return new Set(rows.map((r) => r.resource));
  }

  // ---- writes ----

  /**
   * A transaction of this repository. One that took access away (markTakesAway) bumps its tenants' revisions as its
   * last statement (after every other lock it takes, so no two such transactions wait on each other in a cycle), and
   * the new revision is announced once it has committed (onRevision; DESIGN §3, the decision cache).
   */
  async transaction<R>(fn: (tx: Tx) => Promise<R>): Promise<R> {
    let revisions: TenantRevision[] = [];
    const out = await inTransaction(this.db, async (tx) => {
      revisions = [];
      this.open.set(tx, new Set());
      try {
        const r = await fn(tx);
        const tenants = [...(this.open.get(tx) ?? [])].sort();
        if (tenants.length > 0) revisions = await tx.$queryRawUnsafe<TenantRevision[]>(BUMP_REVISIONS, tenants);
        return r;
      } finally {
        this.open.delete(tx);
      }
    });
    if (revisions.length > 0) await this.announce(revisions);
    return out;
  }

  /**
   * Listens for the revisions each commit of this process bumped (the announcer publishes them). The change's caller
   * is answered only once every listener has settled.
   */
  onRevision(listener: (revisions: TenantRevision[]) => Promise<void>): void {
    this.listeners.push(listener);
  }

  /** The revisions bumped in the last `withinMs` (for the announcer's beacon: a lost announcement is heard anyway). */
  async recentRevisions(withinMs: number): Promise<TenantRevision[]> {
    return this.read.$queryRawUnsafe<TenantRevision[]>(RECENT_REVISIONS, withinMs);
  }

  private readonly listeners: Array<(revisions: TenantRevision[]) => Promise<void>> = [];
  /** Open transactions of this repository, with the tenants each took access away in. */
  private readonly open = new WeakMap<Tx, Set<string>>();

  private async announce(revisions: TenantRevision[]): Promise<void> {
    await Promise.allSettled(this.listeners.map((l) => l(revisions)));
  }

  /**
   * The transaction takes access away in `tenant`: it bumps the tenant's revision when it commits. Only transactions
   * of this repository can (one begun elsewhere would commit without the bump, and a cached decision outlive it).
   */
  private markTakesAway(tx: Tx, tenant: string): void {
    const tenants = this.open.get(tx);
    if (!tenants) throw new Error('a change that takes access away must run in TuplesRepository.transaction');
    tenants.add(tenant);
  }

  /**
   * Writes the tenant, owner and parent tuples of a new resource (in the caller's transaction). The same input again
   * is a no-op; a different one is CONFLICT (a resource never changes tenant). Cycles and trees deeper than
   * `maxDepth` are refused.
   *
   * Why cycles cannot slip in between two concurrent registrations: a parent must be registered (committed) before a
   * child can name it, so only a resource that already has children (left behind by an earlier deregistration) can
   * close a loop. Those registrations also take a per-tenant lock, so their ancestor walks never race; the common
   * case, a fresh resource, runs in parallel.
   *
   * A registration its resource's deregistration overtook is 'stale' and writes nothing: from an event, one written
   * before the deregistration; from a call (`event` absent), which has no time, any one recorded (ids are not reused,
   * so the call is a late copy of the registration the deregistration followed; only an event written after it takes
   * the id back, see deregistrationsOf). From an event, a parent deregistered since counts as registered, and the
   * parent tuple keeps the event's time (reparent).
   */
  async register(tx: Tx, r: Registration, maxDepth: number, event?: { at?: Date }): Promise<'created' | 'unchanged' | 'stale'> {
    await tx.$executeRaw`SELECT 1 FROM pg_advisory_xact_lock(hashtextextended(${'authz:resource:' + r.resource}, 0))`;
    const gone = await this.deregistrationsOf(tx, event ? { ...r, at: event.at } : { resource: r.resource }, true);
    if (gone === 'stale') return 'stale';
    const existing = await tx.$queryRaw<Array<{ relation: string; subject: string }>>`
      SELECT relation, subject FROM tuples WHERE resource = ${r.resource} AND relation IN ('tenant', 'owner', 'parent')
      UNION ALL
      SELECT 'child', resource FROM (SELECT resource FROM tuples WHERE subject = ${r.resource} AND relation = 'parent' LIMIT 1) c`;
    const of = (rel: string) => existing.find((e) => e.relation === rel)?.subject;
    if (of('tenant') !== undefined) {
      const same = of('tenant') === tenantSubject(r.tenant) && of('owner') === r.owner && of('parent') === r.parent;
      if (same) return 'unchanged';
      throw new DomainError('CONFLICT', 'the resource is already registered with another tenant, owner or parent', { resource: r.resource });
    }
    if (r.parent !== undefined) {
      if (of('child') !== undefined) await tx.$executeRaw`SELECT 1 FROM pg_advisory_xact_lock(hashtextextended(${'authz:tree:' + r.tenant}, 0))`;
      await this.assertParent(tx, r as Registration & { parent: string }, maxDepth, gone.parentTenant);
    }
    await tx.$executeRaw`INSERT INTO tuples (resource, relation, subject, tenant_id, resource_type, written_at)
      SELECT ${r.resource}, v.relation, v.subject, ${r.tenant}, ${resourceTypeOf(r.resource)},
             CASE WHEN v.relation = 'parent' THEN ${event?.at ?? null}::timestamptz END
        FROM (VALUES (1, 'tenant', ${tenantSubject(r.tenant)}::text), (2, 'owner', ${r.owner ?? null}::text), (3, 'parent', ${r.parent ?? null}::text))
             AS v(n, relation, subject)
       WHERE v.subject IS NOT NULL
       ORDER BY v.n`;
    return 'created';
  }

  /**
   * Moves a registered resource under another registered parent of its tenant (its grants and owner stay). Takes the
   * tenant's tree lock, like every registration that could close a loop; refuses a cycle and a tree deeper than
   * `maxDepth` counting the moved subtree. The same parent again is a no-op. From an event, as register; and one
   * written before the parent tuple's (`written_at`: the last reparent or registration applied) is 'stale', so the
   * parent is the last one written whatever order they arrive in. Without a time it applies, and the tuple's stays.
   */
  async reparent(tx: Tx, r: { resource: string; parent: string }, maxDepth: number, event?: { at?: Date }): Promise<'moved' | 'unchanged' | 'stale'> {
    await tx.$executeRaw`SELECT 1 FROM pg_advisory_xact_lock(hashtextextended(${'authz:resource:' + r.resource}, 0))`;
    const gone = event ? await this.deregistrationsOf(tx, { ...r, at: event.at }, false) : undefined;
    if (gone === 'stale') return 'stale';
    const tenant = await this.lockTenantOf(tx, r.resource);
    if (tenant === null) throw new DomainError('NOT_FOUND', 'the resource is not registered', { field: 'resource' });
    await tx.$executeRaw`SELECT 1 FROM pg_advisory_xact_lock(hashtextextended(${'authz:tree:' + tenant}, 0))`;
    const current = (await tx.$queryRaw<Array<{ subject: string; written_at: Date | null }>>`
      SELECT subject, written_at FROM tuples WHERE resource = ${r.resource} AND relation = 'parent'`)[0];
    const at = event?.at;
    // Strictly older only: events written in one transaction share a time, and are applied as they arrive.
    if (at && current?.written_at && at < current.written_at) return 'stale';
    const writtenAt = at ?? current?.written_at ?? null;
    if (current?.subject === r.parent) {
      // The same parent, written later: the tuple takes the later time, so a move between the two stays older.
      if (at && !(current.written_at && at <= current.written_at)) await this.writeParent(tx, { ...r, tenant }, at);
      return 'unchanged';
    }
    const below = await tx.$queryRaw<Array<{ height: number }>>`
      WITH RECURSIVE down(resource, depth) AS (
          SELECT ${r.resource}::text, 0
        UNION ALL
          SELECT c.resource, d.depth + 1 FROM down d
            JOIN tuples c ON c.subject = d.resource AND c.relation = 'parent' AND c.tenant_id = ${tenant}
           WHERE d.depth <= ${maxDepth}
      )
      SELECT max(depth)::int AS height FROM down`;
    await this.assertParent(tx, { resource: r.resource, tenant, parent: r.parent }, maxDepth - (below[0]?.height ?? 0), gone?.parentTenant);
    await this.writeParent(tx, { ...r, tenant }, writtenAt);
    this.markTakesAway(tx, tenant);
    return 'moved';
  }

  /** The resource's parent tuple, written anew (deleted and inserted: no statement updates a tuple, see DEREGISTER). */
  private async writeParent(tx: Tx, r: { resource: string; parent: string; tenant: string }, writtenAt: Date | null): Promise<void> {
    await tx.$executeRaw`DELETE FROM tuples WHERE resource = ${r.resource} AND relation = 'parent'`;
    await tx.$executeRaw`INSERT INTO tuples (resource, relation, subject, tenant_id, resource_type, written_at)
      VALUES (${r.resource}, 'parent', ${r.parent}, ${r.tenant}, ${resourceTypeOf(r.resource)}, ${writtenAt}::timestamptz)`;
  }

  /**
   * The parent exists in the same tenant (held FOR SHARE against a concurrent deregister), no cycle, not too deep; or,
   * for an event, it was deregistered (`deregisteredTenant`: its tenant then) after the event was written. Missing:
   * NOT_FOUND (it may still be registered); another tenant's: ForeignParentError (it never becomes this tenant's).
   */
  private async assertParent(tx: Tx, r: Registration & { parent: string }, maxDepth: number, deregisteredTenant?: string | null): Promise<void> {
    if (r.parent === r.resource) throw new DomainError('CONFLICT', 'a resource cannot be its own parent', { field: 'parent' });
    const parent = await tx.$queryRaw<Array<{ tenant_id: string }>>`
      SELECT tenant_id FROM tuples WHERE resource = ${r.parent} AND relation = 'tenant' FOR SHARE`;
    // Its tuples are gone, so there is no cycle or depth through it to check: the tuples are what they would be had
    // the events arrived in order (a child is never written under a parent already deleted).
    if (parent.length === 0 && deregisteredTenant === r.tenant) return;
    const tenant = parent[0]?.tenant_id ?? deregisteredTenant ?? undefined;
    if (tenant === undefined) throw new DomainError('NOT_FOUND', 'the parent is not registered', { field: 'parent' });
    if (tenant !== r.tenant) throw new ForeignParentError();
    const ancestors = await tx.$queryRawUnsafe<Array<{ resource: string; depth: number }>>(ANCESTORS, r.parent, r.tenant, maxDepth);
    if (ancestors.some((a) => a.resource === r.resource)) {
      throw new DomainError('CONFLICT', 'the parent is a descendant of the resource (a cycle)', { field: 'parent' });
    }
    if (ancestors.some((a) => a.depth > maxDepth)) {
      throw new DomainError('VALIDATION', `the resource would be more than ${maxDepth} levels deep`, {
        issues: [{ path: 'parent', message: `more than ${maxDepth} levels of parents` }],
      });
    }
  }

  /** Holds the resource's lock until the transaction ends (the one register, reparent, deregister and grant take). */
  async lockResource(tx: Tx, resource: string): Promise<void> {
    await tx.$executeRaw`SELECT 1 FROM pg_advisory_xact_lock(hashtextextended(${'authz:resource:' + resource}, 0))`;
  }

  /**
   * A deregister call: removes every tuple of the resource (tenant, owner, parent and grants) and, if it was
   * registered, records its deregistration as of now (DEREGISTER_CALL), in one statement; the count removed.
   */
  async deregister(tx: Tx, resource: string): Promise<number> {
    await tx.$executeRaw`SELECT 1 FROM pg_advisory_xact_lock(hashtextextended(${'authz:resource:' + resource}, 0))`;
    const gone = await tx.$queryRawUnsafe<Array<{ tenant_id: string }>>(DEREGISTER_CALL, resource);
    for (const tenant of new Set(gone.map((g) => g.tenant_id))) this.markTakesAway(tx, tenant);
    return gone.length;
  }

  /**
   * Deregistration events: every tuple of each resource, and a record that it was deregistered (its tenant, if it was
   * registered, and when the event was written: `at`, else now), so that an event of the resource written before and
   * arriving after changes nothing. Takes the resources' locks, in one order.
   */
  async deregisterEvents(tx: Tx, events: Array<{ resource: string; at?: Date }>): Promise<void> {
    const latest = new Map<string, Date | null>();
    for (const e of events) {
      const prev = latest.get(e.resource);
      latest.set(e.resource, prev === null || e.at === undefined ? null : prev === undefined || e.at > prev ? e.at : prev);
    }
    const resources = [...latest.keys()];
    await this.lockResources(tx, resources);
    const gone = await tx.$queryRawUnsafe<Array<{ tenant_id: string | null }>>(DEREGISTER, resources, resources.map((r) => latest.get(r) ?? null));
    // Each resource's tenant when known (its tuples', or an earlier record's): a bump too many is only a cache miss.
    for (const tenant of new Set(gone.flatMap((g) => (g.tenant_id === null ? [] : [g.tenant_id])))) this.markTakesAway(tx, tenant);
  }

  /** The resources' locks, taken in one order (so that two transactions taking several never wait on each other in a cycle). */
  async lockResources(tx: Tx, resources: string[]): Promise<void> {
    await tx.$executeRaw`SELECT 1 FROM (SELECT DISTINCT r FROM unnest(${resources}::text[]) AS u(r) ORDER BY r) s
      CROSS JOIN LATERAL pg_advisory_xact_lock(hashtextextended('authz:resource:' || s.r, 0))`;
  }

  /**
   * Whether an event of a resource (written `at`) was overtaken by the resource's deregistration, written later: then
   * it is 'stale'. Unknown times (a call's too) order a deregistration last (it is final: ids are not reused). A
   * registration written after the deregistration (`reclaims`) takes the id back; a stale one tells the record its
   * tenant (a call names none), for children overtaken the same way. Also the tenant of the event's parent if that
   * was deregistered (a call names no parent here: for it, a parent deregistered is missing).
   */
  private async deregistrationsOf(
    tx: Tx,
    e: { resource: string; tenant?: string; parent?: string; at?: Date },
    reclaims: boolean,
  ): Promise<'stale' | { parentTenant?: string | null }> {
    const rows = await tx.$queryRaw<Array<{ resource: string; tenant_id: string | null; deregistered_at: Date }>>`
      SELECT resource, tenant_id, deregistered_at FROM deregistered_resources WHERE resource = ANY(${e.parent === undefined ? [e.resource] : [e.resource, e.parent]}::text[])`;
    const own = rows.find((r) => r.resource === e.resource);
    if (own && !(e.at && e.at > own.deregistered_at)) {
      if (own.tenant_id === null && e.tenant !== undefined) {
        await tx.$executeRaw`UPDATE deregistered_resources SET tenant_id = ${e.tenant} WHERE resource = ${e.resource} AND tenant_id IS NULL`;
      }
      return 'stale';
    }
    if (own && reclaims) await tx.$executeRaw`DELETE FROM deregistered_resources WHERE resource = ${e.resource}`;
    return { parentTenant: e.parent === undefined ? undefined : rows.find((r) => r.resource === e.parent)?.tenant_id };
  }

  /** Forgets deregistrations applied more than `retentionHours` ago (as pruneAppliedEvents); returns how many. */
  async pruneDeregistered(retentionHours: number, batchSize = 1_000, maxBatches = 100): Promise<number> {
    return this.pruneApplied('deregistered_resources', 'resource', retentionHours, batchSize, maxBatches);
  }

  /** Tenant of a registered resource, locked FOR SHARE so it cannot be deregistered before the transaction ends. */
  async lockTenantOf(tx: Tx, resource: string): Promise<string | null> {
    const rows = await tx.$queryRaw<Array<{ tenant_id: string }>>`
      SELECT tenant_id FROM tuples WHERE resource = ${resource} AND relation = 'tenant' FOR SHARE`;
    return rows[0]?.tenant_id ?? null;
  }

  /**
   * Grants `action` (by `grantedBy`); a grant that is new goes in the audit too. Granting twice is one grant: true when
   * this call made it (its audit row is the statement's one row), false when the subject held it already.
   */
  async grant(tx: Tx, g: { tenantId: string; resource: string; action: Action; subject: string; grantedBy: string }): Promise<boolean> {
    return (await tx.$executeRawUnsafe(GRANT, g.resource, g.action, g.subject, g.tenantId, resourceTypeOf(g.resource), g.grantedBy)) === 1;
  }

  /** Removes the grant; when there was one, writes it in the audit (by `by`) and bumps the revision in the same statement and announces it. */
  async revoke(g: { tenantId: string; resource: string; action: Action; subject: string; by: string }): Promise<void> {
    const rows = await this.db.$queryRawUnsafe<TenantRevision[]>(REVOKE, g.resource, g.action, g.subject, g.tenantId, g.by);
    if (rows.length > 0) await this.announce(rows);
  }

  /** A resource's action grants, in (action, subject) order after `after`. */
  grantsOf(q: { tenantId: string; resource: string; after: { action: string; subject: string } | null; limit: number }) {
    return this.db.$queryRawUnsafe<Array<{ action: Action; subject: string; granted_by: string | null; created_at: Date }>>(
      GRANTS_OF,
      q.resource,
      q.tenantId,
      q.after?.action ?? null,
      q.after?.subject ?? null,
      q.limit,
    );
  }

  /** A resource's grant changes, newest first, before the change `before`. */
  grantHistory(q: { tenantId: string; resource: string; before: string | null; limit: number }) {
    return this.db.$queryRawUnsafe<Array<{ id: string; change: 'granted' | 'revoked'; subject: string; action: Action; changed_by: string; changed_at: Date }>>(
      GRANT_HISTORY,
      q.tenantId,
      q.resource,
      q.before,
      q.limit,
    );
  }

  /** Sets the tenant's rollout mode and bumps the revision in the same statement (a mode can take access away). */
  async setMode(tenantId: string, mode: RolloutMode, updatedBy: string): Promise<void> {
    const rows = await this.db.$queryRawUnsafe<TenantRevision[]>(SET_MODE, tenantId, mode, updatedBy);
    if (rows.length > 0) await this.announce(rows);
  }

  /**
   * Forgets applied event ids older than `retentionHours`, oldest first, `batchSize` per statement (`SKIP LOCKED`:
   * instances never wait on each other); returns how many.
   */
  async pruneAppliedEvents(retentionHours: number, batchSize = 1_000, maxBatches = 100): Promise<number> {
    return this.pruneApplied('applied_events', 'event_id', retentionHours, batchSize, maxBatches);
  }

  /** Rows of `table` applied more than `retentionHours` ago, deleted oldest first in batches (`SKIP LOCKED`). */
  private pruneApplied(table: 'applied_events' | 'deregistered_resources', key: 'event_id' | 'resource', retentionHours: number, batchSize: number, maxBatches: number): Promise<number> {
    return pruneOlderThan(this.db, { table, key, at: 'applied_at' }, retentionHours, { batchSize, maxBatches });
  }

  /**
   * Forgets the grant changes (the audit, `grant_history`) older than `retentionHours`, oldest first in batches; 0
   * keeps them all. A grant itself stays, with who made it.
   */
  pruneGrantChanges(retentionHours: number, batchSize = 1_000, maxBatches = 100): Promise<number> {
    return pruneOlderThan(this.db, { table: 'grant_changes', key: 'id', at: 'changed_at' }, retentionHours, { batchSize, maxBatches });
  }

  /**
   * Applies an event at most once: its id is recorded in the same transaction as its effect, so a redelivery (or a
   * concurrent second delivery, which waits on the key) finds it and does nothing. 'stale' when `apply` says so.
   */
  async applyOnce(eventId: string, subject: string, apply: (tx: Tx) => Promise<unknown>): Promise<'applied' | 'duplicate' | 'stale'> {
    return this.transaction(async (tx) => {
      const inserted = await tx.$executeRaw`INSERT INTO applied_events (event_id, subject) VALUES (${eventId}, ${subject})
        ON CONFLICT (event_id) DO NOTHING`;
      if (inserted === 0) return 'duplicate';
      return (await apply(tx)) === 'stale' ? 'stale' : 'applied';
    });
  }

  /**
   * Applies a batch of events in one transaction, each at most once as applyOnce does (its id recorded with its
   * effect; a later copy of an id in the batch is a duplicate), in order: runs of registrations and of
   * deregistrations as a few set-based statements each, a reparent on its own, all as their events (stale ones
   * included) would one by one. Throws when any event would fail (nothing of the batch is then kept): the caller
   * applies them one at a time, so one bad event fails alone.
   */
  async applyBatchOnce(events: ResourceEvent[], maxDepth: number): Promise<Array<'applied' | 'duplicate' | 'stale'>> {
    return this.transaction(async (tx) => {
      const first = new Map<string, ResourceEvent>();
      for (const e of events) if (!first.has(e.eventId)) first.set(e.eventId, e);
      // Ids, like resources, are taken in one order by every batch: two instances' batches never wait on each other in a cycle.
      const ids = [...first.keys()].sort();
      const inserted = await tx.$queryRaw<Array<{ event_id: string }>>`INSERT INTO applied_events (event_id, subject)
        SELECT * FROM unnest(${ids}::text[], ${ids.map((id) => first.get(id)?.subject)}::text[])
        ON CONFLICT (event_id) DO NOTHING
        RETURNING event_id`;
      const fresh = new Set(inserted.map((r) => r.event_id));
      const outcome = new Map<ResourceEvent, 'applied' | 'duplicate' | 'stale'>(events.map((e) => [e, fresh.has(e.eventId) && first.get(e.eventId) === e ? 'applied' : 'duplicate']));
      const todo = events.filter((e) => outcome.get(e) === 'applied');
      if (todo.length === 0) return events.map(() => 'duplicate');
      await this.lockResources(tx, todo.map((e) => (e.kind === 'register' ? e.registration.resource : e.resource)));
      const runs: ResourceEvent[][] = [];
      for (const e of todo) {
        const last = runs.at(-1);
        if (last && e.kind !== 'reparent' && last[0]?.kind === e.kind) last.push(e);
        else runs.push([e]);
      }
      for (const run of runs) {
        const registrations = run.flatMap((e) => (e.kind === 'register' ? [{ ...e.registration, at: e.at }] : []));
        const deregistrations = run.flatMap((e) => (e.kind === 'deregister' ? [{ resource: e.resource, at: e.at }] : []));
        if (registrations.length > 0) {
          const results = await this.registerMany(tx, registrations, maxDepth);
          run.forEach((e, i) => results[i] === 'stale' && outcome.set(e, 'stale'));
        } else if (deregistrations.length > 0) await this.deregisterEvents(tx, deregistrations);
        else {
          for (const e of run) {
            if (e.kind === 'reparent' && (await this.reparent(tx, e, maxDepth, { at: e.at })) === 'stale') outcome.set(e, 'stale');
          }
        }
      }
      return events.map((e) => outcome.get(e) ?? 'duplicate');
    });
  }

  /**
   * register() of events for several resources, in order, whose locks the transaction holds: the same outcomes,
   * decided from two reads (the resources' tuples and deregistrations; the parents and their chains) and written in
   * one insert. A resource that already has children and names a parent could close a loop (see register): such a
   * run goes through register() one by one, which takes the tenant's tree lock and walks for cycles.
   */
  private async registerMany(tx: Tx, regs: Array<Registration & { at?: Date }>, maxDepth: number): Promise<Array<'created' | 'unchanged' | 'stale'>> {
    const resources = [...new Set(regs.map((r) => r.resource))];
    const parents = [...new Set(regs.flatMap((r) => (r.parent === undefined ? [] : [r.parent])))];
    const withParent = [...new Set(regs.filter((r) => r.parent !== undefined).map((r) => r.resource))];
    const rows = await tx.$queryRawUnsafe<Array<{ resource: string; relation: string; subject: string | null; at: Date | null }>>(
      REGISTRATION_STATE,
      resources,
      withParent,
      [...new Set([...resources, ...parents])],
    );
    if (rows.some((e) => e.relation === 'child')) {
      const results: Array<'created' | 'unchanged' | 'stale'> = [];
      for (const { at, ...r } of regs) results.push(await this.register(tx, r, maxDepth, { at }));
      return results;
    }
    // What each resource is registered as, in the database and then after each registration of the run before it.
    const state = new Map<string, { tenant?: string; owner?: string; parent?: string; chain?: number }>();
    const gone = new Map<string, { tenant: string | null; at: Date }>();
    for (const e of rows) {
      if (e.relation === 'deregistered' && e.at) gone.set(e.resource, { tenant: e.subject, at: e.at });
      else if (e.subject !== null) state.set(e.resource, { ...state.get(e.resource), [e.relation]: e.subject });
    }
    const registeredParents = new Map<string, { tenant: string; chain: number }>();
    if (parents.length > 0) {
      const chains = await tx.$queryRawUnsafe<Array<{ resource: string; tenant_id: string; chain: number }>>(PARENT_CHAINS, JSON.stringify(parents), maxDepth);
      for (const p of chains) registeredParents.set(p.resource, { tenant: tenantSubject(p.tenant_id), chain: p.chain });
    }
    const results: Array<'created' | 'unchanged' | 'stale'> = [];
    const created: Array<Registration & { at?: Date }> = [];
    const named = new Map<string, string>(); // deregistered resources whose stale registration tells their tenant
    const reclaimed: string[] = [];
    for (const { at, ...r } of regs) {
      const dereg = gone.get(r.resource);
      if (dereg && !(at && at > dereg.at)) {
        if (dereg.tenant === null) {
          dereg.tenant = r.tenant;
          named.set(r.resource, r.tenant);
        }
        results.push('stale');
        continue;
      }
      if (dereg) {
        gone.delete(r.resource);
        reclaimed.push(r.resource);
      }
      const now = state.get(r.resource);
      if (now?.tenant !== undefined) {
        if (now.tenant === tenantSubject(r.tenant) && now.owner === r.owner && now.parent === r.parent) {
          results.push('unchanged');
          continue;
        }
        throw new DomainError('CONFLICT', 'the resource is already registered with another tenant, owner or parent', { resource: r.resource });
      }
      let chain = 1;
      if (r.parent !== undefined) {
        if (r.parent === r.resource) throw new DomainError('CONFLICT', 'a resource cannot be its own parent', { field: 'parent' });
        const inRun = state.get(r.parent);
        const deregParent = gone.get(r.parent);
        const parent =
          inRun?.chain !== undefined
            ? { tenant: inRun.tenant, chain: inRun.chain }
            : (registeredParents.get(r.parent) ?? (deregParent?.tenant ? { tenant: tenantSubject(deregParent.tenant), chain: 1 } : undefined));
        if (parent?.tenant === undefined) throw new DomainError('NOT_FOUND', 'the parent is not registered', { field: 'parent' });
        if (parent.tenant !== tenantSubject(r.tenant)) throw new ForeignParentError();
        // No cycle: the resource has no child, so it is nobody's ancestor.
        if (parent.chain > maxDepth) {
          throw new DomainError('VALIDATION', `the resource would be more than ${maxDepth} levels deep`, {
            issues: [{ path: 'parent', message: `more than ${maxDepth} levels of parents` }],
          });
        }
        chain = parent.chain + 1;
      }
      state.set(r.resource, { tenant: tenantSubject(r.tenant), owner: r.owner, parent: r.parent, chain });
      created.push({ ...r, at });
      results.push('created');
    }
    if (named.size > 0) {
      await tx.$executeRaw`UPDATE deregistered_resources d SET tenant_id = v.tenant
        FROM unnest(${[...named.keys()]}::text[], ${[...named.values()]}::text[]) AS v(resource, tenant)
       WHERE d.resource = v.resource AND d.tenant_id IS NULL`;
    }
    if (reclaimed.length > 0) await tx.$executeRaw`DELETE FROM deregistered_resources WHERE resource = ANY(${reclaimed}::text[])`;
    if (created.length > 0) {
      const tuples = created.flatMap((r) =>
        (
          [
            ['tenant', tenantSubject(r.tenant)],
            ['owner', r.owner],
            ['parent', r.parent],
          ] as const
        ).flatMap(([relation, subject]) =>
          subject === undefined ? [] : [{ resource: r.resource, relation, subject, tenant: r.tenant, at: relation === 'parent' ? (r.at ?? null) : null }],
        ),
      );
      await tx.$executeRaw`INSERT INTO tuples (resource, relation, subject, tenant_id, resource_type, written_at)
        SELECT * FROM unnest(${tuples.map((t) => t.resource)}::text[], ${tuples.map((t) => t.relation)}::text[], ${tuples.map((t) => t.subject)}::text[],
                             ${tuples.map((t) => t.tenant)}::text[], ${tuples.map((t) => resourceTypeOf(t.resource))}::text[],
                             ${tuples.map((t) => t.at)}::timestamptz[])`;
    }
    return results;
  }
}
