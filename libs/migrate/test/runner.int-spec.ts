import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { migrate, migrationStatus } from '../src/index.js';
import { connect, query, Scratch } from './helpers.js';

const scratch = new Scratch();
afterAll(() => scratch.dropAll());

const TABLE = `CREATE TABLE t (id int PRIMARY KEY, a int, b int);
INSERT INTO t SELECT g, g, g FROM generate_series(1, 100) g;`;

function collect() {
  const lines: string[] = [];
  return { lines, log: (l: string) => lines.push(l) };
}

describe('migrate', () => {
  it('applies in order, records checksums and reports status', async () => {
    const url = await scratch.db('migrate_order');
    const dir = await scratch.migrations({
      '20260101000000_t': TABLE,
      '20260101000100_c': 'ALTER TABLE t ADD COLUMN c text;',
    });
    expect(await migrationStatus({ databaseUrl: url, dir })).toEqual([
      { name: '20260101000000_t', state: 'pending' },
      { name: '20260101000100_c', state: 'pending' },
    ]);
    const { lines, log } = collect();
    expect(await migrate({ databaseUrl: url, dir, log })).toEqual({ applied: ['20260101000000_t', '20260101000100_c'] });
    expect(lines.join('\n')).toMatch(/→ 20260101000100_c \(transaction, 1 steps\)[\s\S]*step 1\/1 line 1: ALTER TABLE t ADD COLUMN c text/);
    expect((await migrationStatus({ databaseUrl: url, dir })).map((s) => s.state)).toEqual(['applied', 'applied']);
    expect(await migrate({ databaseUrl: url, dir, log })).toEqual({ applied: [] });
  });

  it('two runners started at once apply each migration exactly once', async () => {
    const url = await scratch.db('migrate_concurrent');
    const dir = await scratch.migrations({
      '20260101000000_t': TABLE,
      // not idempotent: a second application would fail on the duplicate key
      '20260101000100_log': "CREATE TABLE applied_log (name text PRIMARY KEY); INSERT INTO applied_log VALUES ('once'); SELECT pg_sleep(0.3);",
      '20260101000200_ix': '-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS ix_t_a ON t (a);',
    });
    const a = collect();
    const b = collect();
    const [ra, rb] = await Promise.all([migrate({ databaseUrl: url, dir, log: a.log }), migrate({ databaseUrl: url, dir, log: b.log })]);
    expect([...ra.applied, ...rb.applied].sort()).toEqual(['20260101000000_t', '20260101000100_log', '20260101000200_ix']);
    expect([ra.applied.length, rb.applied.length].sort()).toEqual([0, 3]);
    expect([...a.lines, ...b.lines].join('\n')).toContain('another migrator holds the advisory lock; waiting');
    expect(await query(url, 'SELECT name FROM applied_log')).toEqual([{ name: 'once' }]);
  });

  it('retries a step blocked by another session and succeeds once the lock is released', async () => {
    const url = await scratch.db('migrate_retry');
    const dir = await scratch.migrations({ '20260101000000_t': TABLE });
    await migrate({ databaseUrl: url, dir, log: () => undefined });
    const blocker = await connect(url);
    await blocker.query('BEGIN; LOCK TABLE t IN ACCESS SHARE MODE');
    await writeMigration(dir, '20260101000100_c', 'ALTER TABLE t ADD COLUMN c text;');
    const { lines, log } = collect();
    setTimeout(() => void blocker.query('COMMIT'), 900);
    const started = Date.now();
    const res = await migrate({ databaseUrl: url, dir, lockTimeoutMs: 200, maxRetries: 20, log });
    await blocker.end();
    expect(res.applied).toEqual(['20260101000100_c']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
    const text = lines.join('\n');
    expect(text).toMatch(/lock timeout \(200 ms\).*blocked by pid \d+ \(idle in transaction.*LOCK TABLE t IN ACCESS SHARE MODE.*retry 1\/20/);
  });

  it('gives up past the retry bound with a clear message and leaves nothing of a transactional migration', async () => {
    const url = await scratch.db('migrate_giveup');
    const dir = await scratch.migrations({ '20260101000000_t': TABLE });
    await migrate({ databaseUrl: url, dir, log: () => undefined });
    await writeMigration(dir, '20260101000100_two', 'CREATE TABLE other (id int);\nALTER TABLE t ADD COLUMN c text;');
    const blocker = await connect(url);
    await blocker.query('BEGIN; LOCK TABLE t IN ACCESS SHARE MODE');
    try {
      await expect(migrate({ databaseUrl: url, dir, lockTimeoutMs: 150, maxRetries: 2, log: () => undefined })).rejects.toThrow(
        /migration 20260101000100_two gave up .* after 3 attempts: lock timeout \(150 ms\): step 2 \(line 2\).*blocked by pid \d+ .*LOCK TABLE t/,
      );
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
    expect(await query(url, "SELECT to_regclass('other') AS t")).toEqual([{ t: null }]);
    expect(await query(url, "SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 't' AND column_name = 'c'")).toEqual([{ n: 0 }]);
    expect((await migrationStatus({ databaseUrl: url, dir }))[1].state).toBe('pending');
  });

  it('runs CREATE INDEX CONCURRENTLY and VALIDATE CONSTRAINT through a no-transaction migration', async () => {
    const url = await scratch.db('migrate_notx');
    const dir = await scratch.migrations({
      '20260101000000_t': TABLE,
      '20260101000100_ck': 'ALTER TABLE t ADD CONSTRAINT ck_t_a CHECK (a > 0) NOT VALID;',
      '20260101000200_notx':
        '-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS ix_t_a ON t (a) WHERE a IS NOT NULL;\nALTER TABLE t VALIDATE CONSTRAINT ck_t_a;\n',
    });
    const { lines, log } = collect();
    await migrate({ databaseUrl: url, dir, log });
    expect(lines.join('\n')).toMatch(/step 1\/2 \(line 2\): CREATE INDEX CONCURRENTLY.*autocommit[\s\S]*step 2\/2 \(line 3\): ALTER TABLE t VALIDATE/);
    expect(await query(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_t_a'::regclass")).toEqual([{ indisvalid: true }]);
    expect(await query(url, "SELECT convalidated FROM pg_constraint WHERE conname = 'ck_t_a'")).toEqual([{ convalidated: true }]);
  });

  it('resumes a half-applied no-transaction migration and rebuilds the INVALID index a failed build left', async () => {
    const url = await scratch.db('migrate_resume');
    const dir = await scratch.migrations({
      '20260101000000_t': `${TABLE}\nUPDATE t SET b = 1 WHERE id <= 2;\nALTER TABLE t ADD CONSTRAINT ck_t_a CHECK (a > 0) NOT VALID;`,
      '20260101000100_notx': [
        '-- migrate:no-transaction',
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_t_a ON t (a);',
        'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ux_t_b ON t (b);',
        'ALTER TABLE t VALIDATE CONSTRAINT ck_t_a;',
      ].join('\n'),
    });
    // the unique build fails on the duplicate b = 1 and leaves ux_t_b INVALID
    await expect(migrate({ databaseUrl: url, dir, log: () => undefined })).rejects.toThrow(/20260101000100_notx failed at step 2\/3 \(line 3\).*could not create unique index/);
    expect(await query(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ux_t_b'::regclass")).toEqual([{ indisvalid: false }]);
    expect((await migrationStatus({ databaseUrl: url, dir }))[1].state).toBe('pending');

    await query(url, 'UPDATE t SET b = id');
    const { lines, log } = collect();
    expect((await migrate({ databaseUrl: url, dir, log })).applied).toEqual(['20260101000100_notx']);
    const text = lines.join('\n');
    expect(text).toContain('resuming a half-applied migration at step 2/3');
    expect(text).toMatch(/index "public"."ux_t_b" is INVALID .*dropping it to rebuild/);
    expect(text).not.toContain('step 1/3');
    expect(await query(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ux_t_b'::regclass")).toEqual([{ indisvalid: true }]);
    expect(await query(url, "SELECT convalidated FROM pg_constraint WHERE conname = 'ck_t_a'")).toEqual([{ convalidated: true }]);
  });

  it('completes on rerun a no-transaction migration whose runner was killed between steps', async () => {
    const url = await scratch.db('migrate_killed');
    const dir = await scratch.migrations({
      '20260101000000_t': TABLE,
      '20260101000100_notx': '-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS ix_t_a ON t (a);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS ix_t_b ON t (b);',
    });
    await migrate({ databaseUrl: url, dir, log: () => undefined });
    // simulate the kill: the first run stops right after step 1 committed
    const killer = await connect(url);
    await killer.query('DROP INDEX ix_t_b');
    await killer.query("UPDATE _agentplane_migrations SET steps_done = 1, applied_at = NULL WHERE name = '20260101000100_notx'");
    // and a real kill: terminate the migrator while it waits on step 2
    await killer.query('BEGIN; LOCK TABLE t IN SHARE MODE');
    const killed = migrate({ databaseUrl: url, dir, lockTimeoutMs: 20_000, log: () => undefined });
    await waitFor(async () => (await query(url, "SELECT 1 FROM pg_stat_activity WHERE application_name = 'agentplane-migrate' AND wait_event_type = 'Lock'")).length === 1);
    await query(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'agentplane-migrate' AND wait_event_type = 'Lock'");
    await expect(killed).rejects.toThrow(/terminat/);
    await killer.query('ROLLBACK');
    await killer.end();
    expect((await migrationStatus({ databaseUrl: url, dir }))[1].state).toBe('pending');

    const { lines, log } = collect();
    expect((await migrate({ databaseUrl: url, dir, log })).applied).toEqual(['20260101000100_notx']);
    expect(lines.join('\n')).toContain('resuming a half-applied migration at step 2/2');
    expect(await query(url, "SELECT indexrelid::regclass::text AS ix, indisvalid FROM pg_index WHERE indrelid = 't'::regclass AND NOT indisprimary ORDER BY 1")).toEqual([
      { ix: 'ix_t_a', indisvalid: true },
      { ix: 'ix_t_b', indisvalid: true },
    ]);
  });

  it('refuses to run when an applied migration was edited', async () => {
    const url = await scratch.db('migrate_changed');
    const dir = await scratch.migrations({ '20260101000000_t': TABLE });
    await migrate({ databaseUrl: url, dir, log: () => undefined });
    await writeMigration(dir, '20260101000000_t', `${TABLE}\nALTER TABLE t ADD COLUMN sneaky text;`);
    await writeMigration(dir, '20260101000100_next', 'ALTER TABLE t ADD COLUMN c text;');
    expect((await migrationStatus({ databaseUrl: url, dir }))[0]).toEqual({ name: '20260101000000_t', state: 'changed' });
    await expect(migrate({ databaseUrl: url, dir, log: () => undefined })).rejects.toThrow(
      /migration 20260101000000_t was applied with checksum [0-9a-f]{12}… but .*migration.sql now has [0-9a-f]{12}…; an applied migration must not be edited/,
    );
    expect(await query(url, "SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 't' AND column_name IN ('c', 'sneaky')")).toEqual([{ n: 0 }]);
  });
});

async function writeMigration(dir: string, name: string, sql: string) {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(path.join(dir, name), { recursive: true });
  await writeFile(path.join(dir, name, 'migration.sql'), sql);
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
