// The tasks service's own statements as pgbench script lines (tools/bench/tasks, step 5: PostgreSQL alone).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LEASE_DEFAULT_SECONDS, PostgresIdempotencyStore } from '@agentplane/idempotency';
import { NEW_OUTBOX_ID_SQL } from '@agentplane/messaging';
import { REPO_ROOT } from '../../dist/stack.js';
import { pgbenchStatement } from '../pgbench.mjs';

/**
 * What the stack's last create wrote, read back from its tasks database, with the last stored key's row: the columns
 * of a keyed create's source row that do not change from one create to the next (its params, outbox messages and
 * headers, stored response).
 */
export const SAMPLE_KEYED_CREATE_SQL = `
SELECT t.params, t.priority, t.max_attempts, t.heartbeat_timeout_seconds, t.timeout_seconds, t.retry_initial_interval_ms,
       t.retry_backoff_coefficient, t.retry_maximum_interval_ms, t.creator_user_id, o.headers, o.more AS outbox,
       k.scope_key, k.payload_hash, k.response, extract(epoch FROM k.expires_at - k.created_at)::float8 AS ttl_seconds
  FROM (SELECT * FROM outbox WHERE more IS NOT NULL ORDER BY created_at DESC LIMIT 1) o
  JOIN tasks t ON t.id = (o.payload->>'taskId')::uuid
  CROSS JOIN (SELECT * FROM idempotency_keys WHERE status = 'completed' ORDER BY created_at DESC LIMIT 1) k`;

/**
 * pgbench lines, from the service's built code (apps/tasks/dist): `floor`, the floor GET's statement (FIND_BY_ID) for
 * task `floorTaskId` of `tenantId`; `create`, a lone keyed create's statement (createManySql with the idempotency
 * store, as the service prepares it) whose one source row is `sample` (SAMPLE_KEYED_CREATE_SQL's row) for agent
 * `agentId` of `tenantId`, with a fresh id, name, key, claim and lock each time (the sample is a constant of the
 * prepared statement).
 */
export async function tasksStatements({ sample, tenantId, agentId, floorTaskId }) {
  const { createManySql, FIND_BY_ID } = await import(pathToFileURL(join(REPO_ROOT, 'apps/tasks/dist/tasks/tasks.repository.js')).href);
  const keys = new PostgresIdempotencyStore(undefined);
  const item = {
    ord: 0,
    tenant_id: tenantId,
    agent_id: agentId,
    params: sample.params,
    creator_user_id: sample.creator_user_id,
    creator_service_account_id: null,
    priority: sample.priority,
    max_attempts: sample.max_attempts,
    heartbeat_timeout_seconds: sample.heartbeat_timeout_seconds,
    timeout_seconds: sample.timeout_seconds,
    retry_initial_interval_ms: sample.retry_initial_interval_ms,
    retry_backoff_coefficient: sample.retry_backoff_coefficient,
    retry_maximum_interval_ms: sample.retry_maximum_interval_ms,
    outbox: sample.outbox,
    headers: sample.headers,
    scope_key: sample.scope_key,
    payload_hash: sample.payload_hash,
    response: sample.response,
    ttl_seconds: sample.ttl_seconds,
  };
  const literal = (s) => `'${String(s).replace(/'/g, "''")}'`;
  const source = `jsonb_build_array(${literal(JSON.stringify(item))}::jsonb
    || jsonb_build_object('id', ${NEW_OUTBOX_ID_SQL}, 'name', md5(random()::text || clock_timestamp()::text),
         'key', md5(random()::text || clock_timestamp()::text), 'claim_id', gen_random_uuid(),
         'lock_key', floor(random() * 9e18)::bigint, 'created_at', clock_timestamp(), 'run_after', clock_timestamp()))`;
  const create = createManySql({ store: (src, lease) => keys.storeManyCte(src, lease), held: (src, lease) => keys.heldManyCte(src, lease) });
  return {
    floor: pgbenchStatement(FIND_BY_ID.replace(/\$([12])\b/g, (_, n) => (n === '1' ? literal(floorTaskId) : literal(tenantId)))),
    create: pgbenchStatement(create.replace(/\$([1-3])\b/g, (_, n) => ({ 1: `(${source})`, 2: literal('events.tasks.task_updated'), 3: String(LEASE_DEFAULT_SECONDS) })[n])),
  };
}
