#!/usr/bin/env node
// Migration stall benchmark (DESIGN §9, issue 3): how long do live writes stall while a migration
// runs? (a) the naive migration vs (b) ours through the runner, on a tasks-like table under steady
// concurrent writers and readers. Needs `npm run build -w @agentplane/migrate` first.
//   node tools/bench/migration-stall/bench.mjs [--rows 1000000] [--writers 4] [--readers 2] [--lock-timeout-ms 2000]
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { dropDatabase, ensureDatabase, migrate, splitStatements } from '@agentplane/migrate';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    writers: { type: 'string', default: '4' },
    readers: { type: 'string', default: '2' },
    'lock-timeout-ms': { type: 'string', default: '2000' },
    'blocker-ms': { type: 'string', default: '5000' },
    server: { type: 'string', default: 'postgresql://postgres@127.0.0.1:5432' },
  },
});
const ROWS = Number(values.rows);
const WRITERS = Number(values.writers);
const READERS = Number(values.readers);
const LOCK_TIMEOUT_MS = Number(values['lock-timeout-ms']);
const BLOCKER_MS = Number(values['blocker-ms']);
const url = `${values.server}/ap_bench_stall_${randomBytes(4).toString('hex')}_test`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const connect = async () => {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  return c;
};

const CHECK = 'ck_tasks_at_most_one_creator';
const CHECK_EXPR = 'num_nonnulls(creator_user_id, creator_service_account_id) <= 1';
const INDEX = 'ix_tasks_creator_user_id';

async function setup(c) {
  const t0 = Date.now();
  await c.query(`CREATE TABLE tasks (
    id uuid PRIMARY KEY, tenant_id text NOT NULL, agent_id uuid NOT NULL, name text NOT NULL,
    status text NOT NULL DEFAULT 'pending', params jsonb NOT NULL DEFAULT '{}', result jsonb,
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
    creator_user_id text, creator_service_account_id text)`);
  await c.query(`INSERT INTO tasks (id, tenant_id, agent_id, name, params, creator_user_id, creator_service_account_id)
    SELECT gen_random_uuid(), 'tenant-' || (g % 100), gen_random_uuid(), 'task-' || g, jsonb_build_object('n', g),
           CASE WHEN g % 2 = 0 THEN 'user-' || (g % 5000) END, CASE WHEN g % 2 = 1 AND g % 3 = 0 THEN 'sa-' || (g % 50) END
      FROM generate_series(1, $1) g`, [ROWS]);
  await c.query('VACUUM ANALYZE tasks');
  const ids = (await c.query('SELECT id FROM tasks TABLESAMPLE SYSTEM (1) LIMIT 20000')).rows.map((r) => r.id);
  console.log(`setup: ${ROWS.toLocaleString('en')} rows in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return ids;
}

/** Steady traffic: writers update random rows (and insert some), readers fetch random rows. */
async function workload(ids) {
  const writes = [];
  const reads = [];
  let running = true;
  const pick = () => ids[Math.floor(Math.random() * ids.length)];
  const clients = await Promise.all(Array.from({ length: WRITERS + READERS }, connect));
  const loops = clients.map(async (c, i) => {
    const writer = i < WRITERS;
    for (let n = 0; running; n++) {
      const start = performance.now();
      try {
        if (!writer) await c.query('SELECT id, status, params FROM tasks WHERE id = $1', [pick()]);
        else if (n % 10 === 0)
          await c.query("INSERT INTO tasks (id, tenant_id, agent_id, name) VALUES (gen_random_uuid(), 'tenant-x', gen_random_uuid(), 'bench-' || gen_random_uuid())");
        else await c.query("UPDATE tasks SET status = 'running', updated_at = now() WHERE id = $1", [pick()]);
      } catch (err) {
        console.error(`workload error: ${err.message}`);
      }
      (writer ? writes : reads).push({ start, ms: performance.now() - start });
      await sleep(writer ? 5 : 10);
    }
  });
  return {
    writes,
    reads,
    async stop() {
      running = false;
      await Promise.all(loops);
      await Promise.all(clients.map((c) => c.end()));
    },
  };
}

function stats(samples, from, to) {
  // every request that was in flight at some point while the migration ran
  const inWindow = samples.filter((s) => s.start <= to && s.start + s.ms >= from).map((s) => s.ms).sort((a, b) => a - b);
  const p = (q) => inWindow[Math.min(inWindow.length - 1, Math.floor(q * inWindow.length))] ?? 0;
  return { n: inWindow.length, max: inWindow.at(-1) ?? 0, p99: p(0.99), over100: inWindow.filter((x) => x > 100).length };
}

/** Runs `fn` under traffic and reports write/read latencies for requests issued while it ran. */
async function measure(label, ids, fn) {
  // Every case starts from a checkpoint: the set-up's million rows, an earlier case's build, or whatever the machine
  // wrote before the bench leave dirty buffers, and a checkpoint's fsyncs stall commits in whichever case it lands.
  // That stall would be the checkpoint's, not the migration's, so none is left pending when a case begins.
  // Whether a checkpoint ended during the case anyway (pg_control_checkpoint) is printed beside it.
  const cp = await connect();
  await cp.query('CHECKPOINT');
  const lastCheckpoint = async () => String((await cp.query('SELECT checkpoint_time FROM pg_control_checkpoint()')).rows[0].checkpoint_time);
  const w = await workload(ids);
  await sleep(1000);
  // The clients share this process's event loop with the runner: a stall the loop caused (GC, the runner's own
  // work) is not the database's. Its longest delay is printed beside the stalls, to tell them apart.
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const cp0 = await lastCheckpoint();
  const from = performance.now();
  await fn();
  const to = performance.now();
  loop.disable();
  const checkpointed = (await lastCheckpoint()) !== cp0;
  await cp.end();
  await sleep(500);
  await w.stop();
  const ws = stats(w.writes, from, to);
  const rs = stats(w.reads, from, to);
  const row = { label, wall_ms: Math.round(to - from), writes: ws.n, write_max_ms: round(ws.max), write_p99_ms: round(ws.p99), reads: rs.n, reads_over_100ms: rs.over100, read_max_ms: round(rs.max), loop_delay_max_ms: round(loop.max / 1e6), checkpoint_ended: checkpointed };
  console.log(`${label.padEnd(34)} wall ${String(row.wall_ms).padStart(6)} ms | writes ${String(ws.n).padStart(5)} max ${fmt(ws.max)} p99 ${fmt(ws.p99)} | reads ${String(rs.n).padStart(5)} >100ms ${String(rs.over100).padStart(3)} max ${fmt(rs.max)} | client event loop delay max ${fmt(row.loop_delay_max_ms)} | checkpoint ended ${checkpointed ? 'yes' : 'no'}`);
  return row;
}
const round = (x) => Math.round(x * 10) / 10;
const fmt = (x) => `${x.toFixed(1).padStart(8)} ms`;

async function migrations(files) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ap-bench-'));
  for (const [name, sql] of Object.entries(files)) {
    await mkdir(path.join(dir, name));
    await writeFile(path.join(dir, name, 'migration.sql'), sql);
  }
  return dir;
}

async function main() {
  await ensureDatabase(url);
  const admin = await connect();
  const dirs = [];
  try {
    const ids = await setup(admin);
    // the runner shares this process's event loop with the traffic clients: load the parser's wasm
    // now, or its one-off compile shows up as client-side latency in the first runner case
    await splitStatements('SELECT 1');
    const run = async (files) => {
      const dir = await migrations(files);
      dirs.push(dir);
      await migrate({ databaseUrl: url, dir, lockTimeoutMs: LOCK_TIMEOUT_MS, log: () => undefined });
    };
    await measure('baseline (no migration, 2 s)', ids, () => sleep(2000));

    const checkA = await measure('(a) CHECK: NOT VALID + VALIDATE, 1 tx', ids, async () => {
      await admin.query(`BEGIN; ALTER TABLE tasks ADD CONSTRAINT ${CHECK} CHECK (${CHECK_EXPR}) NOT VALID; ALTER TABLE tasks VALIDATE CONSTRAINT ${CHECK}; COMMIT`);
    });
    await admin.query(`ALTER TABLE tasks DROP CONSTRAINT ${CHECK}`);
    const checkB = await measure('(b) CHECK: runner, 2 migrations', ids, () =>
      run({
        '20990101000000_ck_not_valid': `ALTER TABLE tasks ADD CONSTRAINT ${CHECK} CHECK (${CHECK_EXPR}) NOT VALID;`,
        '20990101000100_ck_validate': `-- migrate:no-transaction\nALTER TABLE tasks VALIDATE CONSTRAINT ${CHECK};`,
      }),
    );

    const indexA = await measure('(a) index: plain CREATE INDEX', ids, () =>
      admin.query(`CREATE INDEX ${INDEX} ON tasks (creator_user_id) WHERE creator_user_id IS NOT NULL`),
    );
    await admin.query(`DROP INDEX ${INDEX}`);
    const indexB = await measure('(b) index: runner, CONCURRENTLY', ids, () =>
      run({ '20990101000200_ix': `-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS ${INDEX} ON tasks (creator_user_id) WHERE creator_user_id IS NOT NULL;` }),
    );

    // A long reader holds ACCESS SHARE for BLOCKER_MS; the migration needs ACCESS EXCLUSIVE.
    const blocked = async (label, apply) => {
      const blocker = await connect();
      return measure(label, ids, async () => {
        await blocker.query('BEGIN; SELECT count(*) FROM tasks WHERE id IS NULL');
        const release = sleep(BLOCKER_MS).then(() => blocker.query('COMMIT')).then(() => blocker.end());
        await apply();
        await release;
      });
    };
    const blockNaive = await blocked(`blocker ${BLOCKER_MS} ms: naive ADD COLUMN`, () => admin.query('ALTER TABLE tasks ADD COLUMN bench_a text'));
    const blockOurs = await blocked(`blocker ${BLOCKER_MS} ms: runner ADD COLUMN`, () => run({ '20990101000300_col': 'ALTER TABLE tasks ADD COLUMN bench_b text;' }));

    const ratio = (b, a) => (a.write_max_ms > 0 ? b.write_max_ms / a.write_max_ms : NaN);
    const summary = {
      rows: ROWS,
      writers: WRITERS,
      readers: READERS,
      lock_timeout_ms: LOCK_TIMEOUT_MS,
      check_ratio_b_over_a: ratio(checkB, checkA),
      index_ratio_b_over_a: ratio(indexB, indexA),
      blocker_stall_over_lock_timeout: blockOurs.write_max_ms / LOCK_TIMEOUT_MS,
      naive_blocker_stall_over_lock_timeout: blockNaive.write_max_ms / LOCK_TIMEOUT_MS,
    };
    console.log('');
    console.log(`ratio (b)/(a) of max write stall, CHECK: ${summary.check_ratio_b_over_a.toFixed(3)} (target ≤ 0.25)`);
    console.log(`ratio (b)/(a) of max write stall, index: ${summary.index_ratio_b_over_a.toFixed(3)} (target ≤ 0.1)`);
    console.log(`runner behind a ${BLOCKER_MS} ms blocker: max write stall / lock_timeout = ${summary.blocker_stall_over_lock_timeout.toFixed(2)} (target ≤ 1.5; naive: ${summary.naive_blocker_stall_over_lock_timeout.toFixed(2)})`);
    console.log(JSON.stringify(summary));
  } finally {
    await admin.end();
    await dropDatabase(url);
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

await main();
