import pg from 'pg';
import { backoffMs, sleep } from './backoff.js';
import { readMigrations, type MigrationFile } from './files.js';
import { indexBuildTarget, isConcurrentIndexBuild, splitStatements, type Statement } from './sql.js';

export const MIGRATIONS_TABLE = '_agentplane_migrations';
export const DEFAULT_LOCK_TIMEOUT_MS = 2000;
export const DEFAULT_MAX_RETRIES = 8;
/** The migrator's own statement_timeout: generous, a backfill or a concurrent build may take a while. */
const STATEMENT_TIMEOUT = '30min';
const BACKOFF_BASE_MS = 250;
const BACKOFF_CAP_MS = 10_000;
const ADVISORY_LOCK_SQL = "hashtextextended('agentplane:migrate', 0)";
const RETRYABLE = new Set(['55P03', '40P01']); // lock_not_available, deadlock_detected

export interface MigrateOptions {
  databaseUrl: string;
  dir: string;
  lockTimeoutMs?: number;
  maxRetries?: number;
  log?: (line: string) => void;
}

export type MigrationState = 'applied' | 'pending' | 'changed';

interface Row {
  name: string;
  checksum: string;
  applied_at: Date | null;
  steps_done: number;
}

interface Blocker {
  pid: number;
  state: string | null;
  query: string | null;
  age_s: number | null;
}

/** What one attempt at a step learnt of who blocked it, and the question still on its way. */
interface Seen {
  blockers: Blocker[];
  asking?: Promise<void>;
}

export class MigrationError extends Error {
  constructor(message: string, readonly migration?: string, readonly code?: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

const defaultLog = (line: string) => process.stdout.write(`${line}\n`);

/** Applies the pending migrations of `dir` in order; see DESIGN §9 for the semantics. */
export async function migrate(opts: MigrateOptions): Promise<{ applied: string[] }> {
  const log = opts.log ?? defaultLog;
  const lockTimeoutMs = opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const maxRetries = opts.maxRetries ?? DEFAULT_MAX_RETRIES;
  const files = await readMigrations(opts.dir);
  const session = await Session.open(opts.databaseUrl, lockTimeoutMs, maxRetries, log);
  try {
    await session.lock();
    await ensureTable(session.client);
    const rows = await readRows(session.client);
    refuseChanged(files, rows);
    const pending = files.filter((f) => !rows.get(f.name)?.applied_at);
    log(`migrate: ${pending.length} pending of ${files.length} (lock_timeout ${lockTimeoutMs} ms, up to ${maxRetries} retries)`);
    const applied: string[] = [];
    for (const file of pending) {
      const started = Date.now();
      const statements = await splitStatements(file.sql);
      log(`migrate: → ${file.name} (${file.noTransaction ? 'no-transaction' : 'transaction'}, ${statements.length} steps)`);
      if (file.noTransaction) await session.applyNoTransaction(file, statements, rows.get(file.name));
      else await session.applyTransaction(file, statements);
      log(`migrate: ✓ ${file.name} (${Date.now() - started} ms)`);
      applied.push(file.name);
    }
    if (pending.length === 0) log('migrate: nothing to do');
    return { applied };
  } finally {
    await session.close();
  }
}

/** Each migration of `dir` and whether it is applied, pending (or half-applied) or changed since applied. */
export async function migrationStatus(opts: { databaseUrl: string; dir: string }): Promise<Array<{ name: string; state: MigrationState }>> {
  const files = await readMigrations(opts.dir);
  const client = new pg.Client({ connectionString: opts.databaseUrl, application_name: 'agentplane-migrate' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const exists = await client.query('SELECT to_regclass($1) AS t', [MIGRATIONS_TABLE]);
    const rows = exists.rows[0].t ? await readRows(client) : new Map<string, Row>();
    return files.map((f) => {
      const row = rows.get(f.name);
      if (row && row.checksum !== f.checksum) return { name: f.name, state: 'changed' as const };
      return { name: f.name, state: row?.applied_at ? ('applied' as const) : ('pending' as const) };
    });
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function ensureTable(client: pg.Client): Promise<void> {
  await client.query(`CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (
    name        text PRIMARY KEY,
    checksum    text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    applied_at  timestamptz,
    steps_done  integer NOT NULL DEFAULT 0,
    step_count  integer NOT NULL
  )`);
}

async function readRows(client: pg.Client): Promise<Map<string, Row>> {
  const res = await client.query<Row>(`SELECT name, checksum, applied_at, steps_done FROM ${MIGRATIONS_TABLE}`);
  return new Map(res.rows.map((r) => [r.name, r]));
}

function refuseChanged(files: MigrationFile[], rows: Map<string, Row>): void {
  for (const f of files) {
    const row = rows.get(f.name);
    if (row && row.checksum !== f.checksum) {
      const what = row.applied_at ? 'was applied' : 'was partly applied (no-transaction)';
      throw new MigrationError(
        `migration ${f.name} ${what} with checksum ${row.checksum.slice(0, 12)}… but ${f.file} now has ${f.checksum.slice(0, 12)}…; ` +
          'an applied migration must not be edited: restore the file and add a new migration instead',
        f.name,
        'MIGRATION_CHANGED',
      );
    }
  }
}

function summary(s: Statement): string {
  const oneLine = s.sql.replace(/\s+/g, ' ');
  return oneLine.length > 90 ? `${oneLine.slice(0, 87)}…` : oneLine;
}

function describeBlockers(blockers: Blocker[]): string {
  if (blockers.length === 0) return 'blocker not identified';
  return blockers
    .map((b) => `pid ${b.pid} (${b.state ?? '?'}${b.age_s === null ? '' : `, transaction open ${b.age_s}s`}): ${JSON.stringify(b.query ?? '')}`)
    .join('; ');
}

/** The migrator's connection plus a monitor connection that names whoever blocks a waiting step. */
class Session {
  private monitor?: pg.Client;
  private monitorReady?: Promise<pg.Client | null>;
  private pid = 0;
  private locked = false;

  private constructor(
    readonly client: pg.Client,
    private readonly url: string,
    private readonly lockTimeoutMs: number,
    private readonly maxRetries: number,
    private readonly log: (line: string) => void,
  ) {}

  static async open(url: string, lockTimeoutMs: number, maxRetries: number, log: (line: string) => void): Promise<Session> {
    const client = new pg.Client({ connectionString: url, application_name: 'agentplane-migrate' });
    client.on('error', () => undefined); // a terminated backend surfaces as the failing query's error
    await client.connect();
    const s = new Session(client, url, lockTimeoutMs, maxRetries, log);
    const res = await client.query<{ pid: number }>(
      "SELECT pg_backend_pid() AS pid, set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)",
      [`${lockTimeoutMs}ms`, STATEMENT_TIMEOUT],
    );
    s.pid = res.rows[0].pid;
    return s;
  }

  /** Session advisory lock: a second runner waits here, then finds nothing left to do. */
  async lock(): Promise<void> {
    let announced = false;
    for (;;) {
      const res = await this.client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${ADVISORY_LOCK_SQL}) AS ok`);
      if (res.rows[0].ok) break;
      if (!announced) this.log('migrate: another migrator holds the advisory lock; waiting');
      announced = true;
      await sleep(200);
    }
    this.locked = true;
  }

  async close(): Promise<void> {
    if (this.locked) await this.client.query(`SELECT pg_advisory_unlock(${ADVISORY_LOCK_SQL})`).catch(() => undefined);
    await this.client.end().catch(() => undefined);
    await this.monitor?.end().catch(() => undefined);
  }

  /**
   * Runs one statement; if it is still running at half the lock_timeout, asks who blocks it (on the monitor
   * connection, opened before the first step: opening it then took longer than the rest of the timeout on a busy
   * machine, and the question came after the wait had ended, with no one blocking any more).
   */
  private async step(sql: string, seen: Seen): Promise<void> {
    await this.monitorConnection();
    const timer = setTimeout(() => {
      seen.asking = this.blockers().then((b) => {
        if (b.length === 0) return;
        seen.blockers = b;
        this.log(`migrate:   waiting for a lock held by ${describeBlockers(b)}`);
      });
    }, Math.max(50, this.lockTimeoutMs / 2));
    try {
      await this.client.query(sql);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The connection that asks who blocks a step (null if it cannot be opened: the step runs all the same). */
  private monitorConnection(): Promise<pg.Client | null> {
    this.monitorReady ??= (async () => {
      const monitor = new pg.Client({ connectionString: this.url, application_name: 'agentplane-migrate-monitor' });
      monitor.on('error', () => undefined);
      this.monitor = monitor;
      try {
        await monitor.connect();
        return monitor;
      } catch {
        return null;
      }
    })();
    return this.monitorReady;
  }

  private async blockers(): Promise<Blocker[]> {
    try {
      const monitor = await this.monitorConnection();
      if (!monitor) return [];
      const res = await monitor.query<Blocker>(
        `SELECT pid, state, left(query, 200) AS query, extract(epoch FROM now() - xact_start)::int AS age_s
           FROM pg_stat_activity WHERE pid = ANY (pg_blocking_pids($1)) ORDER BY pid`,
        [this.pid],
      );
      return res.rows;
    } catch {
      return [];
    }
  }

  /** Retries `attempt` on lock timeout with exponential backoff and full jitter, then fails naming the blocker. */
  private async withRetry(what: string, migration: string, attempt: (seen: Seen) => Promise<void>): Promise<void> {
    for (let i = 0; ; i++) {
      const seen: Seen = { blockers: [] };
      try {
        await attempt(seen);
        return;
      } catch (err) {
        await seen.asking; // a question sent while the step waited: its answer belongs in this line
        const code = (err as { code?: string }).code;
        if (!code || !RETRYABLE.has(code)) {
          throw new MigrationError(`migration ${migration} failed at ${what}: ${(err as Error).message}`, migration, code);
        }
        const reason = `${code === '40P01' ? 'deadlock' : `lock timeout (${this.lockTimeoutMs} ms)`}: ${(err as Error).message}`;
        if (i >= this.maxRetries) {
          throw new MigrationError(
            `migration ${migration} gave up at ${what} after ${i + 1} attempts: ${reason}; blocked by ${describeBlockers(seen.blockers)}. ` +
              'Nothing of this step was committed; end the blocking transaction and rerun.',
            migration,
            'LOCK_TIMEOUT',
          );
        }
        const wait = backoffMs(i, BACKOFF_BASE_MS, BACKOFF_CAP_MS);
        this.log(`migrate:   ${reason} at ${what}; blocked by ${describeBlockers(seen.blockers)}; retry ${i + 1}/${this.maxRetries} in ${wait} ms`);
        await sleep(wait);
      }
    }
  }

  async applyTransaction(file: MigrationFile, statements: Statement[]): Promise<void> {
    await this.withRetry('its transaction', file.name, async (seen) => {
      await this.client.query('BEGIN');
      try {
        for (const [i, s] of statements.entries()) {
          const t0 = Date.now();
          await this.step(s.sql, seen).catch((err: Error & { code?: string }) => {
            err.message = `step ${i + 1} (line ${s.line}): ${err.message}`;
            throw err;
          });
          this.log(`migrate:   step ${i + 1}/${statements.length} line ${s.line}: ${summary(s)} (${Date.now() - t0} ms)`);
        }
        await this.client.query(
          `INSERT INTO ${MIGRATIONS_TABLE} (name, checksum, applied_at, steps_done, step_count) VALUES ($1, $2, now(), $3, $3)`,
          [file.name, file.checksum, statements.length],
        );
        await this.client.query('COMMIT');
      } catch (err) {
        await this.client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  async applyNoTransaction(file: MigrationFile, statements: Statement[], row: Row | undefined): Promise<void> {
    if (!row) {
      await this.client.query(`INSERT INTO ${MIGRATIONS_TABLE} (name, checksum, steps_done, step_count) VALUES ($1, $2, 0, $3)`, [
        file.name,
        file.checksum,
        statements.length,
      ]);
    } else if (row.steps_done > 0) {
      this.log(`migrate:   resuming a half-applied migration at step ${row.steps_done + 1}/${statements.length}`);
    }
    for (let i = row?.steps_done ?? 0; i < statements.length; i++) {
      const s = statements[i];
      const what = `step ${i + 1}/${statements.length} (line ${s.line})`;
      const t0 = Date.now();
      await this.withRetry(what, file.name, async (seen) => {
        if (isConcurrentIndexBuild(s)) await this.dropInvalidIndex(s, seen);
        await this.step(s.sql, seen);
      });
      await this.client.query(`UPDATE ${MIGRATIONS_TABLE} SET steps_done = $2 WHERE name = $1`, [file.name, i + 1]);
      this.log(`migrate:   ${what}: ${summary(s)} (${Date.now() - t0} ms, autocommit)`);
    }
    await this.client.query(`UPDATE ${MIGRATIONS_TABLE} SET applied_at = now() WHERE name = $1`, [file.name]);
  }

  /** A failed CREATE INDEX CONCURRENTLY leaves an INVALID index that IF NOT EXISTS would skip: drop it first. */
  private async dropInvalidIndex(s: Statement, seen: Seen): Promise<void> {
    const { index, schema } = indexBuildTarget(s);
    if (!index) return;
    const res = await this.client.query<{ schema: string }>(
      `SELECT n.nspname AS schema FROM pg_class c
         JOIN pg_index i ON i.indexrelid = c.oid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = $1 AND n.nspname = coalesce($2, current_schema()) AND NOT i.indisvalid`,
      [index, schema ?? null],
    );
    if (!res.rowCount) return;
    const qualified = `"${res.rows[0].schema.replace(/"/g, '""')}"."${index.replace(/"/g, '""')}"`;
    this.log(`migrate:   index ${qualified} is INVALID (a failed concurrent build); dropping it to rebuild`);
    await this.step(`DROP INDEX CONCURRENTLY IF EXISTS ${qualified}`, seen);
  }
}
