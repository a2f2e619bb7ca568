import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@agentplane/persistence';
import { pgbenchStatement } from '../bench/pgbench.mjs';
import { SAMPLE_KEYED_CREATE_SQL, tasksStatements } from '../bench/tasks/statements.mjs';
import { migrationsDir } from '../src/stack.js';

/**
 * tools/bench/tasks runs the tasks service's own statements from pgbench (PostgreSQL alone, against the stack): what
 * pgbench runs must be the statement, with its constants unchanged, prepared as the service's are.
 */
describe('a statement run by pgbench as written (pgbenchStatement, real pgbench and PostgreSQL)', () => {
  let db: TestDatabase;
  let client: pg.Client;
  let dir: string;

  const statement = `INSERT INTO outbox (id, subject, payload)
    SELECT gen_random_uuid(), 'events.x', '{"at":"12:34","note":"it''s \\\\ ok","n":1}'::jsonb
      || jsonb_build_object('time', to_char(timestamptz '2026-12-06 12:34:56.789+00' AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))`;

  const pgbench = (script: string, transactions: number) => {
    const file = join(dir, 'script.sql');
    writeFileSync(file, script);
    const url = new URL(db.url);
    return execFileSync('pgbench', ['-n', '-M', 'prepared', '-c', '1', '-t', String(transactions), '-f', file, '-h', url.hostname, '-p', url.port || '5432', '-U', 'postgres', db.name], { encoding: 'utf8', stdio: 'pipe' });
  };

  beforeAll(async () => {
    db = await createTestDatabase({ service: 'tasks', migrationsDir: migrationsDir('tasks') });
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    dir = mkdtempSync(join(tmpdir(), 'bench-pgbench-'));
  }, 60_000);

  afterAll(async () => {
    await client?.end();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes, once per transaction, what the statement itself writes', async () => {
    await client.query('DELETE FROM outbox');
    await client.query(statement);
    const direct = (await client.query<{ payload: unknown }>('SELECT payload FROM outbox')).rows[0].payload;
    expect(direct).toEqual({ at: '12:34', note: "it's \\ ok", n: 1, time: '2026-12-06T12:34:56.789Z' });
    await client.query('DELETE FROM outbox');

    pgbench(pgbenchStatement(statement), 3);
    const rows = (await client.query<{ payload: unknown }>('SELECT payload FROM outbox')).rows;
    expect(rows).toHaveLength(3);
    for (const r of rows) expect(r.payload).toEqual(direct);
  }, 30_000);

  it('is needed: pgbench fails on the statement as it is', () => {
    expect(() => pgbench(`${statement.replace(/\s*\n\s*/g, ' ')};\n`, 1)).toThrow();
  }, 30_000);

  it("runs the tasks service's own statements as tools/bench/tasks does: a lone keyed create per transaction", async () => {
    const agentId = '00000000-0000-4000-8000-0000000000a1';
    const taskId = '00000000-0000-4000-9000-0000000000b1';
    await client.query("INSERT INTO agents (id, tenant_id, name) VALUES ($1, 'acme', 'a1')", [agentId]);
    // A create as the service writes it: the task, its task_updated outbox row with the registration in `more`, its key.
    await client.query("INSERT INTO tasks (id, tenant_id, agent_id, name, params, creator_user_id) VALUES ($1, 'acme', $2, 'seed', '{\"n\": 1}', 'alice')", [taskId, agentId]);
    const more = [{ id: '00000000-0000-4000-a000-0000000000c1', subject: 'events.tasks.resource_registered', payload: { resource: `task:${taskId}`, note: "it's 12:00" }, headers: {} }];
    await client.query("INSERT INTO outbox (id, subject, payload, headers, more) VALUES (gen_random_uuid(), 'events.tasks.task_updated', $1, '{\"x-request-id\": \"r:1\"}', $2)", [JSON.stringify({ taskId }), JSON.stringify(more)]);
    const response = { packed: 'v1', value: [taskId, 'seed', '12:00:00'] };
    await client.query("INSERT INTO idempotency_keys (scope_key, key, payload_hash, status, claim_id, response, expires_at) VALUES ('acme:user:alice:POST /v1/tasks', 'k0', 'h0', 'completed', gen_random_uuid(), $1, now() + interval '1 day')", [JSON.stringify(response)]);
    const sample = (await client.query(SAMPLE_KEYED_CREATE_SQL)).rows[0] as Record<string, unknown>;
    expect(sample).toMatchObject({ params: { n: 1 }, outbox: more, headers: { 'x-request-id': 'r:1' }, response, creator_user_id: 'alice' });

    const { floor, create } = await tasksStatements({ sample, tenantId: 'acme', agentId, floorTaskId: taskId });
    expect(floor).toContain(taskId);
    pgbench(floor, 2);
    pgbench(create, 3);

    const tasks = (await client.query<{ params: unknown; creator_user_id: string }>("SELECT params, creator_user_id FROM tasks WHERE agent_id = $1 AND name <> 'seed'", [agentId])).rows;
    expect(tasks).toHaveLength(3);
    for (const t of tasks) expect(t).toEqual({ params: { n: 1 }, creator_user_id: 'alice' });
    const events = (await client.query<{ more: unknown; headers: unknown }>("SELECT more, headers FROM outbox WHERE (payload->>'taskId')::uuid IN (SELECT id FROM tasks WHERE agent_id = $1 AND name <> 'seed')", [agentId])).rows;
    expect(events).toHaveLength(3);
    for (const e of events) expect(e).toEqual({ more, headers: { 'x-request-id': 'r:1' } });
    const keys = (await client.query<{ response: unknown }>("SELECT response FROM idempotency_keys WHERE key <> 'k0' AND scope_key = 'acme:user:alice:POST /v1/tasks' AND status = 'completed'")).rows;
    expect(keys).toHaveLength(3);
    for (const k of keys) expect(k.response).toEqual(response);
  }, 60_000);
});
