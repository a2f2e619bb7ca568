import { Injectable, Optional } from '@nestjs/common';
import { Histogram } from 'prom-client';
import { UUID_RE } from '@agentplane/domain';
import { PrismaClient } from '@agentplane/db-tasks';
import { SqlPool, TurnBatch, inTransaction, isStatementError, isUniqueViolation, type Asked, type SqlTx } from '@agentplane/persistence';
import { REPLY_BUDGET_BYTES, tasksEvents } from '@agentplane/contracts';
import type { HeldRow, StatementKey } from '@agentplane/idempotency';
import { NEW_OUTBOX_ID_SQL, pendingRegistrations, type OutboxRow, type PendingRegistrationsQuery } from '@agentplane/messaging';
import { MetricsRegistry } from '@agentplane/observability';
import type { NewTaskRow, TaskRow } from './task.js';
import { TaskWakeups } from './task-wakeups.js';
import { KnownAgents, type AgentFacts } from '../agents/known-agents.js';

export type Tx = SqlTx;

export interface TaskFilter {
  tenantId: string;
  agentId?: string;
  status?: string;
  creatorUserId?: string;
  creatorServiceAccountId?: string;
}

interface TaskSqlRow {
  id: string;
  tenant_id: string;
  agent_id: string;
  name: string;
  status: string;
  params: unknown;
  result: unknown;
  creator_user_id: string | null;
  creator_service_account_id: string | null;
  created_at: Date;
  updated_at: Date;
  priority: number;
  attempt: number;
  max_attempts: number;
  run_after: Date;
  lease_token: string | null;
  lease_expires_at: Date | null;
  worker_id: string | null;
  started_at: Date | null;
  deadline_at: Date | null;
  finished_at: Date | null;
  cancel_requested_at: Date | null;
  progress: unknown;
  error: unknown;
  heartbeat_timeout_seconds: number;
  timeout_seconds: number;
  retry_initial_interval_ms: number;
  retry_backoff_coefficient: number;
  retry_maximum_interval_ms: number;
}

function toRow(r: TaskSqlRow): TaskRow {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    agentId: r.agent_id,
    name: r.name,
    status: r.status,
    params: r.params,
    result: r.result,
    creatorUserId: r.creator_user_id,
    creatorServiceAccountId: r.creator_service_account_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    priority: r.priority,
    attempt: r.attempt,
    maxAttempts: r.max_attempts,
    runAfter: r.run_after,
    leaseToken: r.lease_token,
    leaseExpiresAt: r.lease_expires_at,
    workerId: r.worker_id,
    startedAt: r.started_at,
    deadlineAt: r.deadline_at,
    finishedAt: r.finished_at,
    cancelRequestedAt: r.cancel_requested_at,
    progress: r.progress,
    error: r.error,
    heartbeatTimeoutSeconds: r.heartbeat_timeout_seconds,
    timeoutSeconds: r.timeout_seconds,
    retryInitialIntervalMs: r.retry_initial_interval_ms,
    retryBackoffCoefficient: r.retry_backoff_coefficient,
    retryMaximumIntervalMs: r.retry_maximum_interval_ms,
  };
}

const first = (rows: TaskSqlRow[]): TaskRow | null => (rows[0] ? toRow(rows[0]) : null);

/** UPDATE … RETURNING keeps no order: a claim's own (priority, then when claimable, then age). */
const claimOrder = (a: TaskRow, b: TaskRow) => b.priority - a.priority || a.runAfter.getTime() - b.runAfter.getTime() || a.createdAt.getTime() - b.createdAt.getTime();

/** Every column a task read returns, named (no `*`: a column added later never changes a prepared statement's shape). */
const COLUMNS = `id, tenant_id, agent_id, name, status, params, result, creator_user_id, creator_service_account_id, created_at, updated_at,
  priority, attempt, max_attempts, run_after, lease_token, lease_expires_at, worker_id, started_at, deadline_at, finished_at,
  cancel_requested_at, progress, error, heartbeat_timeout_seconds, timeout_seconds, retry_initial_interval_ms,
  retry_backoff_coefficient, retry_maximum_interval_ms`;
/** COLUMNS, each prefixed with a table alias. */
const columnsOf = (alias: string) => COLUMNS.replace(/(^|,\s*)([a-z_]+)/g, `$1${alias}.$2`);

/** A new task's columns (createManySql); the last two are its `created` history entry (CREATED_EVENT). */
const INSERT_COLUMNS = `id, tenant_id, agent_id, name, params, creator_user_id, creator_service_account_id, created_at, updated_at,
  priority, max_attempts, run_after, heartbeat_timeout_seconds, timeout_seconds,
  retry_initial_interval_ms, retry_backoff_coefficient, retry_maximum_interval_ms, created_event_at, created_run_after`;

/**
 * A task by its id ($1) within its tenant ($2). The tenant is compared as an expression, which no index serves: a plan
 * made while the table had no statistics yet (a prepared statement keeps its generic plan for the connection's life)
 * otherwise took ix_tasks_tenant_created, whose leading column matches too, and scanned every task of the tenant to
 * find one id: a GET's PostgreSQL time grew from 0.08 to 1.05 ms over a minute of creates (issue 19, round 12). A
 * statement that also asks for a status compares that as an expression too (`(status || '') = 'running'`), or the
 * same plan takes a partial index of that status and reads every running task.
 */
const BY_ID = `id = $1::uuid AND (tenant_id || '') = $2`;
export const FIND_BY_ID = `SELECT ${COLUMNS} FROM tasks WHERE ${BY_ID}`;
const FIND_BY_NAME = `SELECT ${COLUMNS} FROM tasks WHERE tenant_id = $1 AND name = $2`;
/** A transition's first statement: the row, locked for the rest of the transaction. */
export const LOCK_BY_ID = `SELECT ${COLUMNS} FROM tasks WHERE ${BY_ID} FOR UPDATE`;

/**
 * The claim (DESIGN §4.1): one probe of ix_tasks_claim for the agent's claimable tasks, highest priority first, then by
 * when they became claimable; rows another claimer holds are skipped, never waited for nor handed out twice. Each
 * becomes `running` as a new attempt with a fresh lease token (the fencing token) and lease.
 */
/**
 * What a claimed task may be counted as in the claim's reply beyond its params' JSON text (its other fields, the
 * lease token, the envelope's share): generous, so a claim of small tasks always takes its `max`.
 */
const CLAIMED_TASK_ALLOWANCE_BYTES = 2_048;
/**
 * The claim's pick and its update of the picked rows (returned as `t`), for CLAIM and CLAIM_FUSED. Up to `max` rows
 * are locked; of those, the leading ones whose params fit one reply are picked (at least one). Without that, a claim
 * of four tasks of 256 KiB of params each took effect and could not be answered: the tasks ran under leases nobody
 * held, until the sweeper ended each attempt as lease_expired (an attempt spent for nothing).
 */
const CLAIM_PICK = `locked AS (
  SELECT id, priority, run_after, created_at, octet_length(params::text) + ${CLAIMED_TASK_ALLOWANCE_BYTES} AS size FROM tasks
   WHERE agent_id = $1::uuid AND status = 'pending' AND run_after <= now()
   ORDER BY priority DESC, run_after, created_at
   LIMIT $2
   FOR UPDATE SKIP LOCKED
), picked AS (
  SELECT id FROM (
    SELECT id, sum(size) OVER w AS upto, row_number() OVER w AS n
      FROM locked
    WINDOW w AS (ORDER BY priority DESC, run_after, created_at ROWS UNBOUNDED PRECEDING)
  ) fit
   WHERE n = 1 OR upto <= ${REPLY_BUDGET_BYTES}
)`;
const CLAIM_UPDATE = `UPDATE tasks t
   SET status = 'running', attempt = t.attempt + 1, lease_token = gen_random_uuid(), worker_id = $3,
       lease_expires_at = now() + make_interval(secs => t.heartbeat_timeout_seconds),
       started_at = now(), deadline_at = now() + make_interval(secs => t.timeout_seconds), finished_at = NULL, updated_at = now()
  FROM picked
 WHERE t.id = picked.id
RETURNING ${columnsOf('t')}`;
export const CLAIM = `
WITH ${CLAIM_PICK}
${CLAIM_UPDATE}`;

/**
 * Running attempts whose lease or deadline has passed, for the sweeper; rows held by a worker's call are skipped.
 * `timed_out`: the deadline has passed, by the same clock that picked the row.
 */
export const EXPIRED = `
SELECT ${COLUMNS}, deadline_at <= now() AS timed_out FROM tasks
 WHERE status = 'running' AND (lease_expires_at <= now() OR deadline_at <= now())
 ORDER BY lease_expires_at
 LIMIT $1
 FOR UPDATE SKIP LOCKED`;

/**
 * Ended tasks finished more than $1 hours ago, oldest first, $2 of them, locked for the transaction that deletes them
 * (retention): one probe of ix_tasks_finished; rows another sweeper holds are skipped.
 */
export const PAST_RETENTION = `
SELECT ${COLUMNS} FROM tasks
 WHERE status IN ('completed', 'failed', 'canceled') AND finished_at < now() - make_interval(hours => $1)
 ORDER BY finished_at
 LIMIT $2
 FOR UPDATE SKIP LOCKED`;

/**
 * A transition's new state. The times it stamps (an end, a cancel request, a retry's runAfter) come from the
 * database's clock, the one its event's `at`, a claim's startedAt and every claim's `run_after <= now()` read, not
 * from the clock of the instance that makes the transition: $10 a retry's delay in ms from now (`run_after` then
 * NULL in $6), $11 and $12 whether `finished_at` and `cancel_requested_at` are now.
 */
const UPDATE_STATE = `
UPDATE tasks
   SET status = $2, result = $3::jsonb, progress = $4::jsonb, error = $5::jsonb,
       run_after = coalesce($6::timestamptz, now() + make_interval(secs => $10::float8 / 1000)), lease_expires_at = $7,
       finished_at = CASE WHEN $11::boolean THEN now() ELSE $8::timestamptz END,
       cancel_requested_at = CASE WHEN $12::boolean THEN now() ELSE $9::timestamptz END, updated_at = now()
 WHERE id = $1::uuid
RETURNING ${COLUMNS}`;

/** A timestamptz rendered as JavaScript's toISOString renders the Date the driver reads back (UTC, ms truncated). */
const isoText = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * An `events.tasks.task_updated` payload built in SQL from a task row (alias `row`, after the transition) and its
 * task_events row (alias `ev`), as TaskHistory builds it in JavaScript (the event contract's shape).
 */
const taskUpdatedPayload = (row: string, ev: string, type: string) =>
  `jsonb_build_object('taskId', ${row}.id, 'tenantId', ${row}.tenant_id, 'agentId', ${row}.agent_id, 'seq', ${ev}.seq, 'type', '${type}',
                     'at', ${isoText(`${ev}.at`)}, 'status', ${row}.status, 'attempt', ${row}.attempt, 'data', ${ev}.data)`;

/**
 * The next seq of the task whose id is `taskId` (an SQL expression): one past its last event's. Seq 1, `created`, is
 * always there: on the task's row (CREATED_EVENT) or, for a task created before it moved there, in task_events.
 */
const nextSeq = (taskId: string) => `COALESCE((SELECT max(e.seq) FROM task_events e WHERE e.task_id = ${taskId}), 1) + 1`;

/**
 * A task's `created` history entry (seq 1) as task_events' columns, from its row (alias `t`): its time and runAfter
 * are kept there by the create's INSERT (created_event_at, created_run_after), its priority never changes. A task
 * created before they were has them NULL and its seq 1 in task_events instead; this yields no row for it.
 */
const CREATED_EVENT = (t: string) => `SELECT ${t}.id AS task_id, 1 AS seq, 'created'::text AS type, ${t}.created_event_at AS at,
       jsonb_build_object('priority', ${t}.priority, 'runAfter', ${isoText(`${t}.created_run_after`)}) AS data`;

/** More outbox rows, given as a JSON array of OutboxRow in the parameter `param`. */
const outboxRowsOf = (param: string) =>
  `SELECT x.id, x.subject, x.payload, x.headers FROM jsonb_to_recordset(${param}::jsonb) AS x(id uuid, subject text, payload jsonb, headers jsonb)`;

/** Whether the agent `agentId` (an SQL expression) has a max_concurrency (its blocked claims wake when a slot frees). */
const cappedAgent = (agentId: string) => `EXISTS (SELECT 1 FROM agents a WHERE a.id = ${agentId} AND a.max_concurrency IS NOT NULL)`;

/**
 * A delete in one statement: the row, its history, and its last `events.tasks.task_updated` (`deleted`, the outbox row
 * in $3–$6, its payload given the next seq, the time, and the status and attempt the row had when it went). The CTEs
 * all read the snapshot from before the statement, so the seq counts the history being deleted beside it; the caller
 * locks the row before (LOCK_BY_ID), so that snapshot holds every transition that committed first. A row back
 * says it went; `freed`, that it was running on an agent with a max_concurrency (a slot its blocked claims may take).
 */
export const DELETE_BY_ID = `
WITH gone AS (
  DELETE FROM tasks WHERE ${BY_ID} RETURNING id, status, attempt, agent_id
), history AS (
  DELETE FROM task_events WHERE task_id IN (SELECT id FROM gone)
), ob AS (
  INSERT INTO outbox (id, subject, payload, headers)
  SELECT $3::uuid, $4, $5::jsonb || jsonb_build_object('seq', ${nextSeq('g.id')}, 'at', ${isoText('now()')}, 'status', g.status, 'attempt', g.attempt), $6::jsonb
    FROM gone g
)
SELECT g.agent_id::text AS agent_id, (g.status = 'running' AND ${cappedAgent('g.agent_id')}) AS freed FROM gone g`;

/**
 * One transition's event for each task of `source` (rows with an `id`), its type, data and outbox row in parameters
 * `p` (the payload built by TaskHistory; the seq and time filled in here): the CTEs `ev`, `stamped` and the SELECT of
 * the task_updated row for `ob`, shared by RECORD and COMPLETE_FUSED.
 */
const stampedHistory = (source: string, p: { type: string; data: string; id: string; subject: string; payload: string; headers: string }) => ({
  ctes: `ev AS (
  INSERT INTO task_events (task_id, seq, type, at, data)
  SELECT src.id, ${nextSeq('src.id')}, ${p.type}, now(), ${p.data}::jsonb FROM ${source} src
  RETURNING seq, at
), stamped AS (
  SELECT seq, at, ${isoText('at')} AS at_text FROM ev
)`,
  outboxRow: `SELECT ${p.id}::uuid, ${p.subject}, ${p.payload}::jsonb || jsonb_build_object('seq', s.seq, 'at', s.at_text), ${p.headers}::jsonb FROM stamped s`,
});

/**
 * A transition's history in one round trip (issue 19; it was three to five): the task event (next seq of the task),
 * its `events.tasks.task_updated` outbox row with the event's seq and time filled in, and any other outbox rows of
 * the transaction (e.g. the authz registration of a new task). The writes are CTEs of one statement, so they commit
 * or roll back with the transaction like separate statements did; `at` is rendered as JavaScript's toISOString
 * renders the Date the driver reads back (UTC, milliseconds truncated). `capped` says whether the agent named in $9
 * has a max_concurrency (whose blocked claims an ended attempt should wake).
 */
const RECORD_HISTORY = stampedHistory('(SELECT $1::uuid AS id)', { type: '$2', data: '$3', id: '$4', subject: '$5', payload: '$6', headers: '$7' });
const RECORD = `
WITH ${RECORD_HISTORY.ctes}, ob AS (
  INSERT INTO outbox (id, subject, payload, headers)
  ${RECORD_HISTORY.outboxRow}
  UNION ALL
  ${outboxRowsOf('$8')}
  RETURNING 1
)
SELECT s.seq, s.at, (SELECT count(*) FROM ob)::int AS written, ${cappedAgent('$9::uuid')} AS capped
  FROM stamped s`;

/**
 * A complete in one statement, outside any transaction (issue 19: one round trip where the transaction took five):
 * the task becomes `completed` only if the given token still holds its running attempt (the UPDATE locks the row and
 * rechecks that on the latest version), and its history is written as RECORD writes it. Nothing is written when the
 * row does not match, and the statement fails whole (a unique violation on task_events) if another transition of
 * the task committed while it waited for the row: the caller then takes the transactional path, which decides both.
 */
const COMPLETE_HISTORY = stampedHistory('done', { type: "'completed'", data: '$5', id: '$6', subject: '$7', payload: '$8', headers: '$9' });
export const COMPLETE_FUSED = `
WITH done AS (
  UPDATE tasks SET status = 'completed', result = $4::jsonb, lease_expires_at = NULL, finished_at = now(), updated_at = now()
   WHERE ${BY_ID} AND lease_token = $3::uuid AND (status || '') = 'running'
  RETURNING ${COLUMNS}
), ${COMPLETE_HISTORY.ctes}, ob AS (
  INSERT INTO outbox (id, subject, payload, headers)
  ${COMPLETE_HISTORY.outboxRow}
  RETURNING 1
)
SELECT ${columnsOf('d')}, (SELECT count(*) FROM ob)::int AS written, ${cappedAgent('d.agent_id')} AS capped
  FROM done d`;

/**
 * An uncapped agent's claim in one statement, outside any transaction (issue 19: one round trip where the transaction
 * took three plus one per task): the claim as CLAIM does it, then each claimed task's `claimed` event and its
 * task_updated outbox row, their payloads built here as TaskHistory builds them (the event contract's shape; every
 * consumer checks it on receipt). Fails whole on a unique violation of task_events if a task's history grew after
 * the statement's snapshot (the caller then claims in a transaction).
 */
const CLAIM_FUSED = `
WITH ${CLAIM_PICK}, claimed AS (
${CLAIM_UPDATE}
), ev AS (
  INSERT INTO task_events (task_id, seq, type, at, data)
  SELECT c.id, ${nextSeq('c.id')}, 'claimed', now(),
         jsonb_build_object('attempt', c.attempt, 'workerId', c.worker_id, 'leaseExpiresAt', ${isoText('c.lease_expires_at')})
    FROM claimed c
  RETURNING task_id, seq, at, data
), ob AS (
  INSERT INTO outbox (id, subject, payload, headers)
  SELECT ${NEW_OUTBOX_ID_SQL}, $4,
         ${taskUpdatedPayload('c', 'e', 'claimed')},
         $5::jsonb
    FROM claimed c JOIN ev e ON e.task_id = c.id
  RETURNING 1
)
SELECT ${columnsOf('c')}, (SELECT count(*) FROM ob)::int AS written
  FROM claimed c`;

/**
 * A create in one statement (issue 19: one round trip where BEGIN, INSERT, the history, the idempotency row and
 * COMMIT took five): each row, its `created` event (seq 1, kept on the row itself: CREATED_EVENT; a task_events row
 * of its own was a sixth of the statement's writes) and one outbox row: its task_updated event, built here as
 * TaskHistory builds it, with the create's other outbox messages (the authz registration) in `more`, published right
 * after it under their own ids (an outbox row of their own was a fifth of the statement's writes, and a relay's
 * mark). Group commit: the creates that reach the repository in one event-loop turn are written by one such statement
 * (one round trip, one transaction, one WAL flush), a lone create by a statement of its own. `$1` is a JSON array of
 * createManyItem; each request gets its own row back (`ord`). Without keys every row is written or the statement
 * fails whole. With keys (each request its own, all sharing the lease in `$3`) each row is gated by its own key, as
 * Idempotency.inStatement asks: the key's advisory lock (`pg_try_advisory_xact_lock`, which never waits), then its
 * key's completed row; a row whose lock is busy or whose key a live row holds writes nothing, and the others go on. A
 * key already held by a live row when the statement began (a replay, mostly) is answered from that row (`held`) and
 * not even upserted: the upsert would lock the row, and a statement that locks nothing commits without waiting for a
 * WAL flush. Of requests with the same key in one group (retries sent at once), the first writes (the key's lock is
 * the transaction's, so each of them takes it) and the others find its row once the statement has committed, as if
 * they had come just after it.
 */
const CREATE_SOURCE = `jsonb_to_recordset($1::jsonb) AS s(ord int, id uuid, tenant_id text, agent_id uuid, name text, params jsonb,
    creator_user_id text, creator_service_account_id text, created_at timestamptz, priority int, max_attempts int, run_after timestamptz,
    heartbeat_timeout_seconds int, timeout_seconds int, retry_initial_interval_ms int, retry_backoff_coefficient float8,
    retry_maximum_interval_ms int, outbox jsonb, headers jsonb,
    lock_key bigint, scope_key text, key text, payload_hash text, claim_id uuid, response jsonb, ttl_seconds float8)`;
/** CREATE_SOURCE's task columns, in INSERT_COLUMNS' order (updated_at is created_at; the `created` entry's time is now). */
const SOURCE_VALUES = `s.id, s.tenant_id, s.agent_id, s.name, s.params, s.creator_user_id, s.creator_service_account_id, s.created_at, s.created_at,
  s.priority, s.max_attempts, s.run_after, s.heartbeat_timeout_seconds, s.timeout_seconds,
  s.retry_initial_interval_ms, s.retry_backoff_coefficient, s.retry_maximum_interval_ms, now(), s.run_after`;

/**
 * What createManySql's INSERT returns: the columns its event and task_updated outbox row are built from. The caller
 * answers with the task as it asked for it to be written (CreateTask), so no column of it comes back to the service:
 * 29 columns fewer to render, send and parse per create (issue 19).
 */
const CREATED_COLUMNS = 'id, tenant_id, agent_id, status, attempt, priority, created_event_at, created_run_after';

/** Exported for tools/bench/tasks, which runs a lone keyed create's statement from pgbench (PostgreSQL's own cost). */
export function createManySql(store?: Pick<StatementKey, 'store' | 'held'>): string {
  return `
WITH src AS MATERIALIZED (
  SELECT * FROM ${CREATE_SOURCE}
), ${store ? `lk AS MATERIALIZED (
  SELECT s.ord, pg_try_advisory_xact_lock(s.lock_key) AS got FROM src s
), held AS (
  ${store.held('src', '$3')}
), idem AS (
  ${store.store(
    `(SELECT DISTINCT ON (src.scope_key, src.key) src.* FROM src JOIN lk USING (ord)
       WHERE lk.got AND NOT EXISTS (SELECT 1 FROM held h WHERE h.claim_id = src.claim_id)
       ORDER BY src.scope_key, src.key, src.ord)`,
    '$3',
  )}
), ` : ''}ins AS (
  INSERT INTO tasks (${INSERT_COLUMNS})
  SELECT ${SOURCE_VALUES} FROM src s${store ? ' JOIN idem d ON d.claim_id = s.claim_id' : ''}
  RETURNING ${CREATED_COLUMNS}
), ob AS (
  INSERT INTO outbox (id, subject, payload, headers, more)
  SELECT ${NEW_OUTBOX_ID_SQL}, $2, ${taskUpdatedPayload('i', 'e', 'created')}, s.headers, NULLIF(s.outbox, '[]'::jsonb)
    FROM ins i CROSS JOIN LATERAL (${CREATED_EVENT('i')}) e JOIN src s ON s.id = i.id
  RETURNING 1 + coalesce(jsonb_array_length(more), 0) AS messages
)
SELECT s.ord, ${store ? 'l.got AS locked, d.claim_id IS NOT NULL AS stored, d.takeover, h.payload_hash AS held_hash, h.status AS held_status, h.response AS held_response, ' : ''}i.id IS NOT NULL AS inserted,
       coalesce((SELECT sum(messages) FROM ob), 0)::int AS written
  FROM src s${store ? ' JOIN lk l USING (ord) LEFT JOIN idem d ON d.claim_id = s.claim_id LEFT JOIN held h ON h.claim_id = s.claim_id' : ''} LEFT JOIN ins i ON i.id = s.id
 ORDER BY s.ord`;
}

/** createManySql's text without keys, and with keys by the store's text (one per idempotency table). */
const createManyStatements = new Map<string, string>();

/** At most this many creates in one statement; more in one turn go out as several. */
export const CREATE_MANY_MAX = 64;

/** What a create answers (TasksRepository.create). */
export interface CreateOutcome {
  locked: boolean;
  stored?: { takeover: boolean };
  /** When nothing was written because a live row held the key: that row, as the statement read it. */
  held?: HeldRow;
}

interface CreateQuestion {
  row: NewTaskRow;
  outbox: OutboxRow[];
  headers: Record<string, string>;
  key?: StatementKey;
}
type PendingCreate = Asked<CreateQuestion, CreateOutcome>;

/** A create's row of createManySql's `$1`. */
function createManyItem(p: PendingCreate, ord: number): Record<string, unknown> {
  const r = p.row;
  return {
    ord,
    id: r.id,
    tenant_id: r.tenantId,
    agent_id: r.agentId,
    name: r.name,
    params: r.params,
    creator_user_id: r.creatorUserId,
    creator_service_account_id: r.creatorServiceAccountId,
    created_at: r.createdAt.toISOString(),
    priority: r.priority,
    max_attempts: r.maxAttempts,
    run_after: r.runAfter.toISOString(),
    heartbeat_timeout_seconds: r.heartbeatTimeoutSeconds,
    timeout_seconds: r.timeoutSeconds,
    retry_initial_interval_ms: r.retryInitialIntervalMs,
    retry_backoff_coefficient: r.retryBackoffCoefficient,
    retry_maximum_interval_ms: r.retryMaximumIntervalMs,
    outbox: p.outbox,
    headers: p.headers,
    ...(p.key ? { lock_key: p.key.lockKey.toString(), ...p.key.row } : {}),
  };
}

/**
 * The creates of one turn in groups that may share a statement: those without a key; those with one, by lease (the
 * store's statement takes one); each group cut at CREATE_MANY_MAX.
 */
export function createGroups<P extends { key?: { leaseSeconds: number } }>(pending: P[]): P[][] {
  const groups: P[][] = [];
  const open = new Map<string, P[]>();
  for (const p of pending) {
    const shape = p.key ? `key:${p.key.leaseSeconds}` : 'none';
    let g = open.get(shape);
    if (!g || g.length >= CREATE_MANY_MAX) {
      g = [];
      open.set(shape, g);
      groups.push(g);
    }
    g.push(p);
  }
  return groups;
}

/** What `record` writes besides the event: more outbox rows, wake-up keys, the agent whose capped slot an attempt freed. */
export interface RecordExtras {
  outbox?: OutboxRow[];
  notify?: string[];
  slotFreedAgentId?: string;
}

/** Wake-up keys of a transaction, published once it has committed (TaskWakeups). */
const WAKES = Symbol('wakes');
type WakingTx = Tx & { [WAKES]?: string[] };

/** A task's history after seq $2: its `created` entry from its row (CREATED_EVENT), the rest from task_events. */
const LIST_EVENTS = `
SELECT task_id, seq, type, at, data FROM (
  ${CREATED_EVENT('t')} FROM tasks t WHERE t.id = $1::uuid AND t.created_event_at IS NOT NULL AND $2 < 1
  UNION ALL
  SELECT task_id, seq, type, at, data FROM task_events WHERE task_id = $1::uuid AND seq > $2
) h ORDER BY seq LIMIT $3`;

/** What a transition may change; everything else stays. */
export interface TaskState {
  status: string;
  result: unknown;
  progress: unknown;
  error: unknown;
  /** A time, or a retry's delay from the database's now. */
  runAfter: Date | { inMs: number };
  leaseExpiresAt: Date | null;
  finishedAt: Date | null | typeof DB_NOW;
  cancelRequestedAt: Date | null | typeof DB_NOW;
}

/** A time a transition stamps with the database's clock (its transaction's start, its event's `at`; UPDATE_STATE). */
export const DB_NOW = 'db-now';

export interface TaskEventRow {
  taskId: string;
  seq: number;
  type: string;
  at: Date;
  data: Record<string, unknown>;
}

const json = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v));

/**
 * The only file that touches the tasks table. Single-row reads and every write are SQL on plain `pg` (`SqlPool`):
 * they sit on the create/cancel/delete and worker paths, where Prisma's per-query cost was most of the service's own
 * CPU (tools/bench/tasks). The keyset page, with its optional filters, stays a Prisma query.
 */
@Injectable()
export class TasksRepository {
  private readonly knownAgents = new KnownAgents();
  /** How many creates each create statement carried (group commit): what one statement's cost is shared by. */
  private readonly createStatementSizes?: Histogram;

  constructor(
    private readonly db: PrismaClient,
    private readonly sql: SqlPool,
    private readonly wakeups: TaskWakeups,
    @Optional() registry?: MetricsRegistry,
  ) {
    this.createStatementSizes = registry
      ? new Histogram({
          name: 'tasks_create_statement_creates',
          help: 'Creates sent in one create statement (group commit of the creates of one event-loop turn)',
          buckets: [1, 2, 4, 8, 16, 32, 64],
          registers: [registry],
        })
      : undefined;
  }

  /**
   * One transaction (retried on serialization failure or deadlock); the wake-up keys it asked for (`wakeAfterCommit`)
   * are published once it has committed, never for an attempt that rolled back.
   */
  async transaction<R>(fn: (tx: Tx) => Promise<R>): Promise<R> {
    let wakes: string[] = [];
    const result = await inTransaction(this.sql, (tx: WakingTx) => {
      wakes = tx[WAKES] = [];
      return fn(tx);
    });
    this.wakeups.publish(wakes);
    return result;
  }

  /** Wakes long-polls waiting on these keys once `tx` commits (`a:<agentId>[@<ms>]`, `t:<taskId>`). */
  wakeAfterCommit(tx: Tx, ...keys: string[]): void {
    const wakes = (tx as WakingTx)[WAKES];
    if (!wakes) throw new Error('wakeAfterCommit needs a transaction started by TasksRepository.transaction');
    wakes.push(...keys);
  }

  /**
   * A new task with its history and outbox rows (its agent's long-polls woken once it is written); with `key`, the
   * key's lock and row too; with a key, nothing is written unless `stored` says so (see `locked`, `held`). A duplicate
   * name fails it (unique violation). The creates of one event-loop turn are written together (group commit:
   * createManySql), each answered from its own row once the statement has committed; if a group's statement fails on
   * the server (nothing written), each create is made on its own, so one request's error never becomes another's.
   */
  create(row: NewTaskRow, outbox: OutboxRow[], headers: Record<string, string>, key?: StatementKey): Promise<CreateOutcome> {
    return this.creates.ask({ row, outbox, headers, key });
  }

  private readonly creates = new TurnBatch<CreateQuestion, CreateOutcome>((pending) => this.createGroupsOf(pending));

  private createGroupsOf(pending: PendingCreate[]): void {
    for (const group of createGroups(pending)) void this.createMany(group);
  }

  /** createManySql for a group of createGroups (all with keys or none), or a lone create. */
  private async createMany(group: PendingCreate[]): Promise<void> {
    const keyed = group[0].key;
    const cacheKey = keyed ? keyed.store('src', '$3') : '';
    let sql = createManyStatements.get(cacheKey);
    if (sql === undefined) {
      sql = createManySql(keyed);
      createManyStatements.set(cacheKey, sql);
    }
    this.createStatementSizes?.observe(group.length);
    let rows: Array<{
      ord: number;
      inserted: boolean;
      written: number;
      locked?: boolean;
      stored?: boolean;
      takeover?: boolean | null;
      held_hash?: string | null;
      held_status?: string;
      held_response?: unknown;
    }>;
    try {
      rows = await this.sql.$queryRawUnsafe(
        sql,
        JSON.stringify(group.map(createManyItem)),
        tasksEvents.taskUpdated.subject,
        ...(keyed ? [keyed.leaseSeconds] : []),
      );
    } catch (err) {
      // An ERROR from the server: the statement wrote nothing. Each create of a group then runs alone and meets its
      // own fate (a duplicate name is one create's CONFLICT, not its neighbours'); a lone create gets its error.
      // Anything else (a lost connection, a FATAL) may have come after the commit: every create gets the error.
      if (group.length > 1 && isStatementError(err)) for (const p of group) void this.createMany([p]);
      else for (const p of group) p.reject(err);
      return;
    }
    let expected = 0;
    const outcomes: CreateOutcome[] = [];
    const wakes: string[] = [];
    for (const [i, p] of group.entries()) {
      const r = rows[i];
      if (!r || r.ord !== i) return this.failGroup(group, new Error('task create: the group statement answered out of order'));
      const locked = p.key ? r.locked === true : true;
      const stored = p.key ? (r.stored ? { takeover: r.takeover === true } : undefined) : undefined;
      if ((p.key && !stored) || !r.inserted) {
        if (!p.key) return this.failGroup(group, new Error('task create: a row of the group was not written'));
        let held: HeldRow | undefined;
        if (r.held_hash) {
          if (typeof r.held_status !== 'string') return this.failGroup(group, new Error('task create: the row holding a key came back without its status'));
          held = { payload_hash: r.held_hash, status: r.held_status, response: r.held_response };
        }
        outcomes.push({ locked, stored, ...(held ? { held } : {}) });
        continue;
      }
      expected += 1 + p.outbox.length;
      wakes.push(`a:${p.row.agentId}@${p.row.runAfter.getTime()}`);
      outcomes.push({ locked, stored });
    }
    if (rows[0].written !== expected) return this.failGroup(group, new Error('task create: the rows, their events and their outbox rows were not all written'));
    this.wakeups.publish(wakes);
    for (const [i, p] of group.entries()) p.resolve(outcomes[i]);
  }

  private failGroup(group: PendingCreate[], err: Error): void {
    for (const p of group) p.reject(err);
  }

  /** INSERT_VALUES' $1–$16 (created_at at millisecond precision, so the keyset cursor, a JS Date, compares exactly). */
  private insertValues(row: NewTaskRow): unknown[] {
    return [
      row.id,
      row.tenantId,
      row.agentId,
      row.name,
      JSON.stringify(row.params),
      row.creatorUserId,
      row.creatorServiceAccountId,
      row.createdAt,
      row.priority,
      row.maxAttempts,
      row.runAfter,
      row.heartbeatTimeoutSeconds,
      row.timeoutSeconds,
      row.retryInitialIntervalMs,
      row.retryBackoffCoefficient,
      row.retryMaximumIntervalMs,
    ];
  }

  async findById(tenantId: string, id: string): Promise<TaskRow | null> {
    if (!UUID_RE.test(id)) return null;
    return first(await this.sql.$queryRawUnsafe<TaskSqlRow[]>(FIND_BY_ID, id, tenantId));
  }

  async findByName(tenantId: string, name: string): Promise<TaskRow | null> {
    return first(await this.sql.$queryRawUnsafe<TaskSqlRow[]>(FIND_BY_NAME, tenantId, name));
  }

  /** The row locked FOR UPDATE in `tx` (every transition of one task is serialised on it). */
  async lock(tx: Tx, tenantId: string, id: string): Promise<TaskRow | null> {
    if (!UUID_RE.test(id)) return null;
    return first(await tx.$queryRawUnsafe<TaskSqlRow[]>(LOCK_BY_ID, id, tenantId));
  }

  /** The agent in the tenant, or null; found agents are kept in memory (KnownAgents: their rows never change). */
  async agentInTenant(tenantId: string, agentId: string): Promise<AgentFacts | null> {
    if (!UUID_RE.test(agentId)) return null;
    return this.knownAgents.get(tenantId, agentId, async () => {
      const rows = await this.sql.$queryRaw<AgentFacts[]>`
        SELECT id, created_by AS "createdBy", max_concurrency AS "maxConcurrency" FROM agents WHERE id = ${agentId}::uuid AND tenant_id = ${tenantId}`;
      return rows[0] ?? null;
    });
  }

  /**
   * How many more tasks the agent may run now under its max_concurrency (null: unlimited). The agent row is locked
   * (FOR NO KEY UPDATE: creates, which take KEY SHARE through the foreign key, still pass) so that concurrent claims
   * of a capped agent count one after the other.
   */
  async concurrencyRoom(tx: Tx, agentId: string): Promise<number | null> {
    // An uncapped agent's claims take no lock here: they only skip one another's rows.
    const cap = await tx.$queryRaw<Array<{ max: number | null }>>`SELECT max_concurrency AS max FROM agents WHERE id = ${agentId}::uuid`;
    if ((cap[0]?.max ?? null) === null) return null;
    const agent = await tx.$queryRaw<Array<{ max: number | null }>>`SELECT max_concurrency AS max FROM agents WHERE id = ${agentId}::uuid FOR NO KEY UPDATE`;
    const max = agent[0]?.max ?? null;
    if (max === null) return null;
    const running = await tx.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM tasks WHERE agent_id = ${agentId}::uuid AND status = 'running'`;
    return Math.max(0, max - (running[0]?.n ?? 0));
  }

  async claim(tx: Tx, agentId: string, workerId: string, max: number): Promise<TaskRow[]> {
    return (await tx.$queryRawUnsafe<TaskSqlRow[]>(CLAIM, agentId, max, workerId)).map(toRow).sort(claimOrder);
  }

  /**
   * COMPLETE_FUSED: the task completed with `result` if `leaseToken` holds its running attempt, its history and
   * task_updated event written and its watchers woken, all in one autocommitted statement; null when the row did not
   * match or its history moved meanwhile (nothing written: decide it in a transaction).
   */
  async completeFused(
    q: { tenantId: string; id: string; leaseToken: string; result: unknown; data: Record<string, unknown> },
    updated: OutboxRow,
  ): Promise<TaskRow | null> {
    let rows: Array<TaskSqlRow & { written: number; capped: boolean }>;
    try {
      rows = await this.sql.$queryRawUnsafe(
        COMPLETE_FUSED,
        q.id,
        q.tenantId,
        q.leaseToken,
        json(q.result),
        JSON.stringify(q.data),
        updated.id,
        updated.subject,
        JSON.stringify(updated.payload),
        JSON.stringify(updated.headers),
      );
    } catch (err) {
      if (isUniqueViolation(err)) return null;
      throw err;
    }
    const r = rows[0];
    if (!r) return null;
    if (r.written !== 1) throw new Error('task history: the event and its outbox row were not all written');
    this.wakeups.publish([`t:${r.id}`, ...(r.capped ? [`a:${r.agent_id}`] : [])]);
    return toRow(r);
  }

  /**
   * CLAIM_FUSED for an agent without max_concurrency: the claimed rows (their history written and watchers woken),
   * or null when the statement failed on a history that moved meanwhile (nothing written: claim in a transaction).
   */
  async claimFused(agentId: string, workerId: string, max: number, headers: Record<string, string>): Promise<TaskRow[] | null> {
    let rows: Array<TaskSqlRow & { written: number }>;
    try {
      rows = await this.sql.$queryRawUnsafe(CLAIM_FUSED, agentId, max, workerId, tasksEvents.taskUpdated.subject, JSON.stringify(headers));
    } catch (err) {
      if (isUniqueViolation(err)) return null;
      throw err;
    }
    if (rows.some((r) => r.written !== rows.length)) throw new Error('task history: the claim events and their outbox rows were not all written');
    if (rows.length > 0) this.wakeups.publish(rows.map((r) => `t:${r.id}`));
    return rows.map(toRow).sort(claimOrder);
  }


  /** See PAST_RETENTION. */
  async pastRetention(tx: Tx, hours: number, limit: number): Promise<TaskRow[]> {
    return (await tx.$queryRawUnsafe<TaskSqlRow[]>(PAST_RETENTION, hours, limit)).map(toRow);
  }

  async expired(tx: Tx, limit: number): Promise<Array<TaskRow & { timedOut: boolean }>> {
    return (await tx.$queryRawUnsafe<Array<TaskSqlRow & { timed_out: boolean | null }>>(EXPIRED, limit)).map((r) => ({ ...toRow(r), timedOut: r.timed_out === true }));
  }

  /** A heartbeat: the lease from now, and the progress when given. */
  async extendLease(tx: Tx, id: string, progress: { value: unknown } | undefined): Promise<TaskRow> {
    const rows = await tx.$queryRaw<TaskSqlRow[]>`
      UPDATE tasks SET lease_expires_at = now() + make_interval(secs => heartbeat_timeout_seconds),
                       progress = CASE WHEN ${progress !== undefined}::boolean THEN ${json(progress?.value)}::jsonb ELSE progress END,
                       updated_at = now()
       WHERE id = ${id}::uuid
      RETURNING id, tenant_id, agent_id, name, status, params, result, creator_user_id, creator_service_account_id, created_at, updated_at,
                priority, attempt, max_attempts, run_after, lease_token, lease_expires_at, worker_id, started_at, deadline_at, finished_at,
                cancel_requested_at, progress, error, heartbeat_timeout_seconds, timeout_seconds, retry_initial_interval_ms,
                retry_backoff_coefficient, retry_maximum_interval_ms`;
    const row = rows[0];
    if (!row) throw new Error(`task ${id}: not found to extend its lease`);
    return toRow(row);
  }

  /** Writes a transition's new state on a row locked in `tx`. */
  async setState(tx: Tx, id: string, s: TaskState): Promise<TaskRow> {
    const rows = await tx.$queryRawUnsafe<TaskSqlRow[]>(
      UPDATE_STATE,
      id,
      s.status,
      json(s.result),
      json(s.progress),
      json(s.error),
      s.runAfter instanceof Date ? s.runAfter : null,
      s.leaseExpiresAt,
      s.finishedAt === DB_NOW ? null : s.finishedAt,
      s.cancelRequestedAt === DB_NOW ? null : s.cancelRequestedAt,
      s.runAfter instanceof Date ? null : s.runAfter.inMs,
      s.finishedAt === DB_NOW,
      s.cancelRequestedAt === DB_NOW,
    );
    const row = rows[0];
    if (!row) throw new Error(`task ${id}: not found to write its new state`);
    return toRow(row);
  }

  /** See RECORD: `updated` is the task_updated outbox row, whose payload's seq and at the statement fills in. */
  async record(tx: Tx, taskId: string, type: string, data: Record<string, unknown>, updated: OutboxRow, extras: RecordExtras = {}): Promise<{ seq: number; at: Date }> {
    const rows = await tx.$queryRawUnsafe<Array<{ seq: number; at: Date; written: number; capped: boolean }>>(
      RECORD,
      taskId,
      type,
      JSON.stringify(data),
      updated.id,
      updated.subject,
      JSON.stringify(updated.payload),
      JSON.stringify(updated.headers),
      JSON.stringify(extras.outbox ?? []),
      extras.slotFreedAgentId ?? null,
    );
    const row = rows[0];
    if (!row || row.written !== 1 + (extras.outbox?.length ?? 0)) throw new Error('task history: the event and its outbox rows were not all written');
    this.wakeAfterCommit(tx, ...(extras.notify ?? []), ...(row.capped ? [`a:${extras.slotFreedAgentId}`] : []));
    return { seq: row.seq, at: row.at };
  }

  async events(taskId: string, after: number, limit: number): Promise<TaskEventRow[]> {
    const rows = await this.sql.$queryRawUnsafe<Array<{ task_id: string; seq: number; type: string; at: Date; data: Record<string, unknown> }>>(
      LIST_EVENTS,
      taskId,
      after,
      limit,
    );
    return rows.map((r) => ({ taskId: r.task_id, seq: r.seq, type: r.type, at: r.at, data: r.data }));
  }



  /**
   * The tenant's agents and tasks, counted (authz tenant status: rows against registrations). Counts are float8, not
   * int: exact to 2^53 and a number from pg, where an int cast fails past 2^31 rows (12 days of creates at the bench's rate).
   */
  async countsInTenant(tenantId: string): Promise<{ agent: number; task: number }> {
    const rows = await this.sql.$queryRaw<Array<{ agent: number; task: number }>>`
      SELECT (SELECT count(*) FROM agents WHERE tenant_id = ${tenantId})::float8 AS agent,
             (SELECT count(*) FROM tasks WHERE tenant_id = ${tenantId})::float8 AS task`;
    return rows[0] ?? { agent: 0, task: 0 };
  }

  /** The tenant's registrations of a type still on their way to authz-proxy (DESIGN §3: its lookup lists them). */
  pendingRegistrations(tenantId: string, q: PendingRegistrationsQuery) {
    return pendingRegistrations(this.sql, tasksEvents, tenantId, q);
  }

  /** One keyset page, newest first: rows strictly after `after` in (created_at DESC, id DESC). */
  page(filter: TaskFilter, after: { createdAt: Date; id: string } | null, take: number): Promise<TaskRow[]> {
    return this.db.task.findMany({
      where: {
        ...filter,
        ...(after ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] } : {}),
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take,
    });
  }

  /** See DELETE_BY_ID: `deleted` is the task's last task_updated outbox row, whose seq, time and state it fills in. */
  async delete(tx: Tx, tenantId: string, id: string, deleted: OutboxRow): Promise<boolean> {
    const rows = await tx.$queryRawUnsafe<Array<{ agent_id: string; freed: boolean }>>(
      DELETE_BY_ID,
      id,
      tenantId,
      deleted.id,
      deleted.subject,
      JSON.stringify(deleted.payload),
      JSON.stringify(deleted.headers),
    );
    const gone = rows[0];
    if (!gone) return false;
    // whoever long-polls the task learns at once that it is gone; a claim its running attempt kept out may go on
    this.wakeAfterCommit(tx, `t:${id}`, ...(gone.freed ? [`a:${gone.agent_id}`] : []));
    return true;
  }

  /** Pending and running tasks per agent (the queue-depth metric), from the two partial indexes. */
  async queueDepth(): Promise<Array<{ agentId: string; status: string; n: number }>> {
    return this.sql.$queryRaw<Array<{ agentId: string; status: string; n: number }>>`
      SELECT agent_id AS "agentId", 'pending' AS status, count(*)::float8 AS n FROM tasks WHERE status = 'pending' GROUP BY agent_id
      UNION ALL
      SELECT agent_id, 'running', count(*)::float8 FROM tasks WHERE status = 'running' GROUP BY agent_id`;
  }

  /** Queue depth of an agent by status, and its oldest pending task. */
  async stats(agentId: string): Promise<{ counts: Record<string, number>; oldestPendingAt: Date | null }> {
    const rows = await this.sql.$queryRaw<Array<{ status: string; n: number; oldest: Date | null }>>`
      SELECT status, count(*)::float8 AS n, min(created_at) FILTER (WHERE status = 'pending') AS oldest
        FROM tasks WHERE agent_id = ${agentId}::uuid GROUP BY status`;
    const counts: Record<string, number> = {};
    let oldestPendingAt: Date | null = null;
    for (const r of rows) {
      counts[r.status] = r.n;
      if (r.oldest) oldestPendingAt = r.oldest;
    }
    return { counts, oldestPendingAt };
  }
}
