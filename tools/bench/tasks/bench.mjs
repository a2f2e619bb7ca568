#!/usr/bin/env node
// Tasks benchmark (issues 6 and 19), every figure against a baseline measured in the same run:
//  1. pgbench single-row INSERT TPS (prepared, like the stack's statements) at the same concurrency;
//  2. the floor: GET /v1/tasks/{id} by its creator through the gateway (gateway → NATS → tasks → one indexed SELECT →
//     back; the creator is recognised from the row, so no authz round trip) — target floor ÷ pgbench ≥ 0.3;
//  3. create-task: POST /v1/tasks through the gateway — JWT auth, authz check (`write` on the agent, granted, so
//     authz-proxy answers it, and tasks keeps the answer until authz-proxy announces a change: DESIGN §3, the decision
//     cache; `--decision-cache off` asks every time), a fresh Idempotency-Key per request, the task row + its events
//     in one transaction — target create ÷ floor ≥ 0.5;
//     both with 0 errors, p99 ≤ 10 × p50, and the CPU per request of each process (from /proc); the two loads
//     alternate in short rounds (floor create | create floor | …), and each figure is over all rounds of its load;
//  4. Prisma `task.create` p50 ÷ raw `pg` INSERT p50 of the same row, sequential, one process (issue 6, ≤ 1.3);
//  5. PostgreSQL alone (pgbench, the same connections, its rounds alternated with 1's): the floor's statement
//     (FIND_BY_ID, the same one task) and a lone keyed create's statement (createManySql, the service's own text, with
//     the params, outbox messages and stored response the stack's creates wrote), so the stack's create ÷ floor can be
//     read against what PostgreSQL alone does with the same two statements.
// Needs the apps and tools built:  npx nx run-many -t build
//   node tools/bench/tasks/bench.mjs [--seconds 4] [--rounds 4] [--connections 16] [--inserts 3000] [--nats secured|open] [--decision-cache on|off]
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { fetchMetrics, metricValue } from '@agentplane/observability';
import { SqlPool, createTestDatabase, createPrismaClient } from '@agentplane/persistence';
import { PrismaClient } from '@agentplane/db-tasks';
import { migrationsDir } from '../../dist/stack.js';
import { pgbenchStatement } from '../pgbench.mjs';
import { cpuPerRequest, cpuSnapshot, formatCpu, formatMachine, machineCores, postgresBreakdown, ratioFactors } from '../cpu.mjs';
import { startBenchStack } from '../stack-under-test.mjs';
import { SAMPLE_KEYED_CREATE_SQL, tasksStatements } from './statements.mjs';

const { values } = parseArgs({
  options: {
    // Seconds per round, and rounds per load. Short rounds, alternated: on a shared 2-core VM the machine's speed (and a
    // floor GET's CPU) drifts by a third within a minute, and one long load of each, seconds apart, put all that drift
    // into their ratio (create ÷ floor measured 0.39 and 0.61 on the same code in two runs, 2026-12-03, round 12).
    seconds: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '4' },
    connections: { type: 'string', default: '16' },
    inserts: { type: 'string', default: '3000' },
    'pool-max': { type: 'string', default: '20' },
    // secured (default): a NATS server of the bench's own with the project's config and identities, as the stack runs;
    // open: the machine's anonymous NATS on 4222 (how the bench ran before the bus was secured), for a before/after.
    nats: { type: 'string', default: 'secured' },
    // tasks' decision cache (TASKS_AUTHZ_DECISION_CACHE); off: every create asks authz-proxy, as before issue 19's round 6
    'decision-cache': { type: 'string', default: 'on' },
  },
});
if (!['on', 'off'].includes(values['decision-cache'])) throw new Error('--decision-cache must be on or off');
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
if (!(Number.isInteger(ROUNDS) && ROUNDS >= 1)) throw new Error('--rounds must be a positive integer');
const C = Number(values.connections);
const INSERTS = Number(values.inserts);
const run = randomBytes(3).toString('hex');
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** Weighted by each round's requests: what a request cost over all rounds of a load. */
const perRequestOver = (rounds, of) => {
  const total = rounds.reduce((a, x) => a + x.r.requests.total, 0);
  const out = {};
  for (const x of rounds) for (const [k, v] of Object.entries(of(x) ?? {})) out[k] = (out[k] ?? 0) + (v * x.r.requests.total) / total;
  return out;
};
/**
 * A load's rounds as one: req/s the mean of the rounds', p50 the median of theirs and p99 the worst of theirs; CPU and
 * PostgreSQL per request over all of them; the machine's cores the mean of theirs; errors summed.
 */
function combineRounds(rounds) {
  const machines = rounds.map((x) => x.machine).filter(Boolean);
  const machine = machines.length === rounds.length
    ? Object.fromEntries(Object.keys(machines[0]).map((k) => [k, k === 'of' ? machines[0].of : Number((machines.reduce((a, m) => a + m[k], 0) / machines.length).toFixed(2))]))
    : undefined;
  return {
    rps: rounds.reduce((a, x) => a + x.r.requests.average, 0) / rounds.length,
    p50: median(rounds.map((x) => x.r.latency.p50)),
    p99: Math.max(...rounds.map((x) => x.r.latency.p99)),
    cpu: perRequestOver(rounds, (x) => x.cpu),
    pgBy: perRequestOver(rounds, (x) => x.pgBy),
    machine,
    errors: rounds.reduce((a, x) => a + x.errors, 0),
  };
}
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

const cleanup = [];
try {
  // ---- 1. through the gateway vs pgbench --------------------------------------------------------------------------
  const bench = await startBenchStack({ nats: values.nats, poolMax: values['pool-max'], tasksEnv: { TASKS_AUTHZ_DECISION_CACHE: values['decision-cache'] } });
  cleanup.push(() => bench.stop());
  const { stack } = bench;
  console.log(`NATS: ${values.nats}`);
  const loads = await bench.grantedTaskLoads({ agentName: 'bench-agent', connections: C, tag: run });
  // The tasks database, to see the outbox drained: a round ends once the relay has published what its load wrote.
  const tasksDb = new pg.Client({ connectionString: bench.dbs.tasks.url });
  tasksDb.on('error', () => undefined);
  await tasksDb.connect();
  const pendingEvents = async () => (await tasksDb.query('SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL')).rows[0].n;
  /**
   * One measured round of a load, with the CPU each process spent on it: from the load's start until the outbox relay
   * has published the round's events (at most 30 s more), so a create's publishing is counted with it and not in the
   * round after; req/s is over the load alone.
   */
  const measure = async (load) => {
    const before = cpuSnapshot(stack);
    const r = await load(SECONDS);
    for (const until = Date.now() + 30_000; (await pendingEvents()) > 0 && Date.now() < until; ) await new Promise((res) => setTimeout(res, 20));
    const after = cpuSnapshot(stack);
    const pgBy = await postgresBreakdown(before, after, r.requests.total, 'postgresql://postgres@127.0.0.1:5432/postgres');
    const cpu = cpuPerRequest(before, after, r.requests.total);
    return { r, cpu, machine: machineCores(before, after, cpu, r.requests.total), pgBy, errors: r.errors + r.timeouts + r.non2xx };
  };
  // Warm-ups (pools, JIT, prepared statements), then the rounds: floor create | create floor | …, so each load has the
  // same neighbours and neither always runs first.
  await loads.floor(2);
  await loads.create(2);
  // How many creates each create statement carried (tasks' tasks_create_statement_creates): what a statement's cost
  // is shared by in the stack, where pgbench's creates below have one each.
  const statementSizes = async () => {
    const text = await fetchMetrics(stack.apps.tasks.url);
    return {
      statements: metricValue(text, 'tasks_create_statement_creates_count'),
      creates: metricValue(text, 'tasks_create_statement_creates_sum'),
    };
  };
  const sizesBefore = await statementSizes();
  const rounds = { floor: [], create: [] };
  for (let i = 0; i < ROUNDS; i++) for (const name of i % 2 === 0 ? ['floor', 'create'] : ['create', 'floor']) {
    rounds[name].push(await measure(loads[name]));
  }
  const sizesAfter = await statementSizes();
  const createsPerStatement = (sizesAfter.creates - sizesBefore.creates) / (sizesAfter.statements - sizesBefore.statements);
  // What the stack's keyed creates wrote (their params, outbox messages and headers, stored response), for step 5.
  const sample = (await tasksDb.query(SAMPLE_KEYED_CREATE_SQL)).rows[0];
  if (!sample) throw new Error("no keyed create of the stack to model PostgreSQL's own run of the create statement on");
  await tasksDb.end();
  const read = combineRounds(rounds.floor);
  const e2e = combineRounds(rounds.create);
  const perRound = rounds.create.map((c, i) => c.r.requests.average / rounds.floor[i].r.requests.average).sort((a, b) => a - b);
  await bench.stop();
  cleanup.pop();

  const scratch = await createTestDatabase({ service: 'tasks', migrationsDir: migrationsDir('tasks') });
  cleanup.push(() => scratch.drop());
  const c0 = new pg.Client({ connectionString: scratch.url });
  await c0.connect();
  // The scratch database's one agent, which every baseline's task belongs to.
  const agentId = '00000000-0000-4000-8000-000000000001';
  await c0.query("INSERT INTO agents (id, tenant_id, name) VALUES ($1, 'bench', 'a')", [agentId]);
  const floorTaskId = randomUUID();
  await c0.query("INSERT INTO tasks (id, tenant_id, agent_id, name, params, creator_user_id) VALUES ($1, 'bench', $2, 'read', '{}', 'bench-worker')", [floorTaskId, agentId]);
  await c0.end();
  const dir = mkdtempSync(join(tmpdir(), 'bench-tasks-'));
  const statements = await tasksStatements({ sample, tenantId: 'bench', agentId, floorTaskId });
  const scripts = {
    insert: pgbenchStatement(`INSERT INTO tasks (id, tenant_id, agent_id, name, params, creator_user_id) VALUES (gen_random_uuid(), 'bench', '${agentId}', md5(random()::text || clock_timestamp()::text), '{}', 'bench-worker')`),
    ...statements,
  };
  for (const [name, script] of Object.entries(scripts)) writeFileSync(join(dir, `${name}.sql`), script);
  const url = new URL(scratch.url);
  const pgDone = { insert: 0, floor: 0, create: 0 };
  const pgbench = (name) => {
    const out = execFileSync('pgbench', ['-n', '-M', 'prepared', '-c', String(C), '-j', '2', '-T', String(SECONDS), '-f', join(dir, `${name}.sql`), '-h', url.hostname, '-p', url.port || '5432', '-U', 'postgres', scratch.name], {
      encoding: 'utf8',
    });
    const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1]);
    if (!(tps > 0) || /aborted/.test(out)) throw new Error(`pgbench ${name}: ${out}`);
    pgDone[name] += Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1]);
    return tps;
  };
  // Rounds alternated as the stack's loads are (insert floor create | create floor insert | …).
  const pgRounds = { insert: [], floor: [], create: [] };
  for (let i = 0; i < ROUNDS; i++) for (const name of i % 2 === 0 ? ['insert', 'floor', 'create'] : ['create', 'floor', 'insert']) pgRounds[name].push(pgbench(name));
  {
    // Every create transaction wrote its create (a key whose lock was busy, or taken, would write nothing, and count).
    const c1 = new pg.Client({ connectionString: scratch.url });
    await c1.connect();
    const written = (await c1.query('SELECT count(*)::int AS n FROM outbox')).rows[0].n;
    await c1.end();
    if (written !== pgDone.create) throw new Error(`pgbench create: ${pgDone.create} transactions wrote ${written} creates`);
  }
  const meanOf = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const pgTps = meanOf(pgRounds.insert);
  const pgFloorTps = meanOf(pgRounds.floor);
  const pgCreateTps = meanOf(pgRounds.create);

  // ---- 2. Prisma vs raw pg, one row at a time ------------------------------------------------------------------
  const prisma = createPrismaClient(PrismaClient, { url: scratch.url, poolMax: 1 });
  const raw = new pg.Client({ connectionString: scratch.url });
  await raw.connect();
  const sql = new SqlPool({ url: scratch.url, max: 1 });
  const times = { prisma: [], pg: [], sqlpool: [] };
  for (let i = 0; i < INSERTS + 200; i++) {
    const order = [['prisma', 'pg', 'sqlpool'], ['pg', 'sqlpool', 'prisma'], ['sqlpool', 'prisma', 'pg']][i % 3];
    for (const which of order) {
      const id = randomUUID();
      const name = `${which}-${run}-${i}`;
      const t = process.hrtime.bigint();
      if (which === 'prisma') {
        await prisma.task.create({ data: { id, tenantId: 'bench', agentId, name, params: {}, creatorUserId: 'bench-worker' } });
      } else if (which === 'sqlpool') {
        // the tasks service's own insert path (TasksRepository.insert): SqlPool, plain pg under a pool
        await sql.$queryRaw`INSERT INTO tasks (id, tenant_id, agent_id, name, params, creator_user_id) VALUES (${id}::uuid, ${'bench'}, ${agentId}::uuid, ${name}, ${'{}'}::jsonb, ${'bench-worker'}) RETURNING *`;
      } else {
        // Prepared (named), as the service's own statements and Prisma's are (libs/persistence): like for like.
        await raw.query({
          name: 'bench_insert',
          text: 'INSERT INTO tasks (id, tenant_id, agent_id, name, params, creator_user_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *',
          values: [id, 'bench', agentId, name, {}, 'bench-worker'],
        });
      }
      if (i >= 200) times[which].push(Number(process.hrtime.bigint() - t) / 1e6); // the first 200 warm up
    }
  }
  await raw.end();
  await sql.end();
  await prisma.$disconnect();
  for (const t of Object.values(times)) t.sort((a, b) => a - b);

  const rps = e2e.rps;
  const floorRps = read.rps;
  const factors = ratioFactors({ cpu: read.cpu, rps: floorRps }, { cpu: e2e.cpu, rps });
  const summary = {
    bench: 'tasks',
    connections: C,
    seconds: SECONDS,
    rounds: ROUNDS,
    pgbench_insert_tps: Math.round(pgTps),
    floor_read_rps: Math.round(floorRps),
    floor_p50_ms: read.p50,
    floor_p99_ms: read.p99,
    floor_read_errors: read.errors,
    e2e_create_rps: Math.round(rps),
    e2e_p50_ms: e2e.p50,
    e2e_p99_ms: e2e.p99,
    e2e_errors: e2e.errors,
    ratio_floor_read_over_pgbench: floorRps / pgTps,
    ratio_create_over_floor: rps / floorRps,
    ratio_create_over_floor_per_round: perRound.map((v) => Number(v.toFixed(3))),
    ratio_create_over_floor_by_cpu: factors?.cpu,
    ratio_create_over_floor_by_cores: factors?.cores,
    ratio_e2e_over_pgbench: rps / pgTps,
    pgbench_floor_statement_tps: Math.round(pgFloorTps),
    pgbench_create_statement_tps: Math.round(pgCreateTps),
    ratio_pg_create_over_floor_statement: pgCreateTps / pgFloorTps,
    ratio_floor_over_its_statement: floorRps / pgFloorTps,
    ratio_create_over_its_statement: rps / pgCreateTps,
    creates_per_create_statement: createsPerStatement,
    p99_over_p50: e2e.p99 / e2e.p50,
    floor_p99_over_p50: read.p99 / read.p50,
    prisma_create_p50_ms: pct(times.prisma, 50),
    pg_insert_p50_ms: pct(times.pg, 50),
    ratio_prisma_over_pg_p50: pct(times.prisma, 50) / pct(times.pg, 50),
    sqlpool_insert_p50_ms: pct(times.sqlpool, 50),
    ratio_sqlpool_over_pg_p50: pct(times.sqlpool, 50) / pct(times.pg, 50),
    cpu_ms_per_floor: Object.fromEntries(Object.entries(read.cpu).map(([k, v]) => [k, Number(v.toFixed(3))])),
    cpu_ms_per_create: Object.fromEntries(Object.entries(e2e.cpu).map(([k, v]) => [k, Number(v.toFixed(3))])),
    machine_cores_floor: read.machine,
    machine_cores_create: e2e.machine,
  };
  const pass = (ok) => (ok ? 'PASS' : 'FAIL');
  console.log(`tasks bench: ${C} connections, ${ROUNDS} rounds × ${SECONDS} s per load (floor and create alternated), decision cache ${values['decision-cache']}`);
  console.log(`pgbench single-row INSERT   ${pgTps.toFixed(0)} tps (mean of ${ROUNDS})`);
  console.log(`floor: GET /v1/tasks/{id} by its creator through the gateway  ${floorRps.toFixed(0)} req/s (mean of ${ROUNDS})   p50 ${read.p50} ms   p99 ${read.p99} ms   errors ${read.errors}`);
  console.log(`create through the gateway  ${rps.toFixed(0)} req/s (mean of ${ROUNDS})   p50 ${e2e.p50} ms   p99 ${e2e.p99} ms   errors ${e2e.errors}`);
  console.log(`ratio floor ÷ pgbench: ${summary.ratio_floor_read_over_pgbench.toFixed(3)} (target ≥ 0.3) ${pass(summary.ratio_floor_read_over_pgbench >= 0.3)}`);
  // Each round's create ÷ the floor of its pair (run back to back): how far the machine's drift spreads the ratio.
  console.log(`create ÷ floor per round: min ${perRound[0].toFixed(3)}   median ${median(perRound).toFixed(3)}   max ${perRound[perRound.length - 1].toFixed(3)}`);
  console.log(`ratio create ÷ floor: ${summary.ratio_create_over_floor.toFixed(3)} (target ≥ 0.5) ${pass(summary.ratio_create_over_floor >= 0.5)}`);
  if (factors) {
    // Which factor is short: a create's CPU (the code) or the cores left idle while creates wait for their commit.
    console.log(`ratio create ÷ floor, by its factors: ${factors.cpu.toFixed(3)} by CPU (a floor GET's ÷ a create's) × ${factors.cores.toFixed(3)} by cores busy (during creates ÷ during floor GETs)`);
  }
  console.log(`(create ÷ pgbench: ${summary.ratio_e2e_over_pgbench.toFixed(3)}, the retired issue-6 measure)`);
  // What PostgreSQL alone does with the two requests' statements: how much of create ÷ floor is the database's own.
  console.log(`PostgreSQL alone (pgbench, ${C} connections, mean of ${ROUNDS}): the floor's statement ${pgFloorTps.toFixed(0)} tps, a lone keyed create's statement ${pgCreateTps.toFixed(0)} tps; create's ÷ floor's ${summary.ratio_pg_create_over_floor_statement.toFixed(3)}`);
  console.log(`creates per create statement in the stack's create load: ${createsPerStatement.toFixed(1)} (tasks_create_statement_creates; pgbench's: 1)`);
  console.log(`through the stack ÷ PostgreSQL alone: floor ${summary.ratio_floor_over_its_statement.toFixed(3)}, create ${summary.ratio_create_over_its_statement.toFixed(3)} (create ÷ floor ${summary.ratio_create_over_floor.toFixed(3)} = ${summary.ratio_pg_create_over_floor_statement.toFixed(3)} × ${(summary.ratio_create_over_its_statement / summary.ratio_floor_over_its_statement).toFixed(2)})`);
  console.log(`p99 ÷ p50: create ${summary.p99_over_p50.toFixed(1)}, floor ${summary.floor_p99_over_p50.toFixed(1)} (target ≤ 10) ${pass(summary.p99_over_p50 <= 10 && summary.floor_p99_over_p50 <= 10)}; errors ${e2e.errors + read.errors} (target 0) ${pass(e2e.errors + read.errors === 0)}`);
  console.log(`Prisma create p50 ${summary.prisma_create_p50_ms.toFixed(3)} ms ÷ raw pg INSERT p50 ${summary.pg_insert_p50_ms.toFixed(3)} ms = ${summary.ratio_prisma_over_pg_p50.toFixed(3)} (target ≤ 1.3) ${pass(summary.ratio_prisma_over_pg_p50 <= 1.3)}`);
  console.log(`service's insert (SqlPool) p50 ${summary.sqlpool_insert_p50_ms.toFixed(3)} ms ÷ raw pg INSERT p50 = ${summary.ratio_sqlpool_over_pg_p50.toFixed(3)} (what tasks runs since it left Prisma's ORM on this path)`);
  console.log(`CPU per floor GET: ${formatCpu(read.cpu, floorRps, cpus().length)}`);
  console.log(`CPU per create: ${formatCpu(e2e.cpu, rps, cpus().length)}`);
  // The two ratios compare loads run seconds apart: they say something about the code only where the machine gave
  // both loads the same cores (issue 19's round 8 and 9 saw the same code measure create ÷ floor 0.28-0.56).
  console.log(`cores during the floor load: ${formatMachine(read.machine)}`);
  console.log(`cores during the create load: ${formatMachine(e2e.machine)}`);
  const fmtPg = (by) => Object.entries(by).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
  console.log(`PostgreSQL's ms per floor GET by database or process: ${fmtPg(read.pgBy)}`);
  console.log(`PostgreSQL's ms per create by database or process: ${fmtPg(e2e.pgBy)}`);
  console.log(JSON.stringify(summary));
} finally {
  for (const f of cleanup.reverse()) await f().catch(() => undefined);
}
