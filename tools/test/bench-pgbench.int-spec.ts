import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@agentplane/persistence';
import { pgbenchStatement } from '../bench/pgbench.mjs';
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
});
