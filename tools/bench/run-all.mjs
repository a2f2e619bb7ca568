#!/usr/bin/env node
// `npm run bench`: runs every benchmark under tools/bench one after the other and writes bench/REPORT.md — the date,
// the machine, each benchmark's figures from this one run (each measures its own baseline) and the targets of
// issues 3–6 and 18 beside them, met or not. Raw output goes to bench/raw/<name>.log (git-ignored).
//   npm run bench [-- --quick] [--rows 1000000] [--no-build] [--only migration-stall,authz] [--out bench/REPORT.md]
// --quick: shorter runs and 200,000 migration rows (figures noisier; the report says so).
import { execSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { ensureRepoRuntime } from '../runtime.mjs';
import { fmtValue, lastJson } from './report.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
await ensureRepoRuntime(ROOT, fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rows: { type: 'string' },
    'no-build': { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string', default: 'bench/REPORT.md' },
  },
});
const QUICK = values.quick;
const ROWS = values.rows ?? (QUICK ? '200000' : '1000000');

/** Each benchmark: its flags for this run, and how to read its figures from its output. */
const BENCHES = [
  {
    name: 'migration-stall',
    issue: 3,
    title: 'Migration stall: naive migration vs the lock-safe runner, under live writers and readers',
    args: ['--rows', ROWS],
    figures: (out) => out.filter((l) => /\bwall\s+\d+ ms \|/.test(l)),
    targets: (out) => {
      const s = lastJson(out);
      return [
        ['max write stall (b)/(a), CHECK', s?.check_ratio_b_over_a, '≤ 0.25', (v) => v <= 0.25],
        ['max write stall (b)/(a), index', s?.index_ratio_b_over_a, '≤ 0.1', (v) => v <= 0.1],
        ['runner behind a 5 s blocker: max write stall ÷ lock_timeout', s?.blocker_stall_over_lock_timeout, '≤ 1.5', (v) => v <= 1.5],
        ['(naive behind the same blocker, for comparison)', s?.naive_blocker_stall_over_lock_timeout, '—', null],
      ];
    },
  },
  {
    name: 'idempotency',
    issue: 4,
    title: 'Idempotency: create-task (POST /v1/tasks) through the gateway with a fresh key vs without, on the owner and the granted path, and replays',
    args: QUICK ? ['--seconds', '4', '--rounds', '2', '--warmup-seconds', '2'] : [],
    figures: (out) => out.filter((l) => /^(idempotency bench:|(owner|granted) +round \d|(owner|granted) path|non-2xx)/.test(l)),
    targets: (out) => {
      const s = lastJson(out);
      const replay = s ? s.replay_p50_ms - s.fresh_p50_ms : undefined;
      return [
        ['req/s with a key ÷ without, granted path (authz check asked)', s?.granted_ratio, '≥ 0.85', (v) => v >= 0.85],
        ["req/s with a key ÷ without, owner path (no authz round trip)", s?.owner_ratio, '≥ 0.85', (v) => v >= 0.85],
        ['replay p50 ≤ fresh p50 (ms)', replay, 'replay ≤ fresh', (v) => v <= 0, s ? `${s.replay_p50_ms} ≤ ${s.fresh_p50_ms}` : undefined],
        ['non-2xx answers or errors', s?.failures, '0', (v) => v === 0],
      ];
    },
  },
  {
    name: 'authz',
    issue: 5,
    title: 'Authz check over NATS vs a raw indexed SQL membership lookup over the same NATS path (100,000 tuples)',
    args: QUICK ? ['--seconds', '4', '--rounds', '2'] : [],
    figures: (out) => out.filter((l) => /^(setup:|concurrency |\| )/.test(l)),
    targets: (out) => {
      const s = lastJson(out);
      return [
        ['check p50 ÷ baseline p50', s?.p50_ratio, '≤ 2.0', (v) => v <= 2.0],
        ['check p99 ÷ baseline p99', s?.p99_ratio, '≤ 3.0', (v) => v <= 3.0],
        ['(throughput ratio)', s?.throughput_ratio, '—', null],
        ['errors', s?.errors, '0', (v) => v === 0],
      ];
    },
  },
  {
    name: 'tasks',
    issue: 19,
    title: 'Tasks: the floor GET and create through the gateway (auth, authz, idempotency key, outbox) vs pgbench, CPU per request by process; Prisma vs raw pg',
    args: QUICK ? ['--seconds', '3', '--rounds', '2', '--inserts', '1000'] : [],
    figures: (out) => out.filter((l) => /^(tasks bench:|create through|pgbench single|floor:|ratio |\(create|p99 ÷|Prisma create|service's insert|CPU per|cores during|PostgreSQL's ms|PostgreSQL alone|creates per create statement|through the stack)/.test(l)),
    targets: (out) => {
      const s = lastJson(out);
      return [
        ['floor GET req/s ÷ pgbench INSERT TPS', s?.ratio_floor_read_over_pgbench, '≥ 0.3', (v) => v >= 0.3],
        ['create req/s ÷ floor GET req/s', s?.ratio_create_over_floor, '≥ 0.5', (v) => v >= 0.5],
        ["(its factors: a floor GET's CPU ÷ a create's)", s?.ratio_create_over_floor_by_cpu, '—', null],
        ['(× cores busy during creates ÷ during floor GETs)', s?.ratio_create_over_floor_by_cores, '—', null],
        ['errors (floor and create)', s ? s.e2e_errors + s.floor_read_errors : undefined, '0', (v) => v === 0],
        ['create p99 ÷ p50', s?.p99_over_p50, '≤ 10', (v) => v <= 10],
        ['floor p99 ÷ p50', s?.floor_p99_over_p50, '≤ 10', (v) => v <= 10],
        ['Prisma create p50 ÷ raw pg INSERT p50 (issue 6)', s?.ratio_prisma_over_pg_p50, '≤ 1.3', (v) => v <= 1.3],
        ["(the service's SqlPool INSERT p50 ÷ raw pg INSERT p50)", s?.ratio_sqlpool_over_pg_p50, '—', null],
        ['(create req/s ÷ pgbench INSERT TPS: the retired issue-6 measure)', s?.ratio_e2e_over_pgbench, '—', null],
        ["(PostgreSQL alone, pgbench: a lone keyed create's statement ÷ the floor's)", s?.ratio_pg_create_over_floor_statement, '—', null],
      ];
    },
  },
  {
    name: 'lifecycle',
    issue: 18,
    title: 'Task lifecycle end to end (create through the gateway → claimed and completed by AgentWorkers) vs pg-boss send → fetch → complete, same PostgreSQL, interleaved rounds',
    args: QUICK ? ['--seconds', '4', '--rounds', '1'] : [],
    figures: (out) => out.filter((l) => /^(lifecycle bench:|max +\d+ )/.test(l)),
    targets: (out) => {
      const s = lastJson(out);
      return [
        ['tasks/s end to end ÷ pg-boss, one task per claim', s?.max1?.ratio, '≥ 0.5', (v) => v >= 0.5],
        ['errors (Agentplane, one task per claim)', s?.max1?.agentplane_errors, '0', (v) => v === 0],
        ['(tasks/s ÷ pg-boss with max 10 per claim)', s?.max10?.ratio, '—', null],
        ['(create → completed p50 ms, one per claim: Agentplane)', s?.max1?.agentplane_p50_ms, '—', null],
        ['(create → completed p50 ms, one per claim: pg-boss)', s?.max1?.pgboss_p50_ms, '—', null],
      ];
    },
  },
  {
    name: 'contracts',
    issue: 19,
    title: "The contracts' own checks, in-process: a list's page budget vs its reply's serialisation, a create's parse with its contract vs the bare schema",
    args: QUICK ? ['--iterations', '5000', '--rounds', '3'] : [],
    figures: (out) => out.filter((l) => /^(page budget|create parse)/.test(l)),
    targets: (out) => {
      const s = lastJson(out);
      return [
        ["(a list's page budget ÷ its reply's JSON.stringify, 50 tasks)", s?.ratio_budget_over_reply, '—', null],
        ['(a create\'s parse with its contract ÷ the bare schema)', s?.ratio_contract_over_bare, '—', null],
      ];
    },
  },
].filter((b) => !values.only || values.only.split(',').includes(b.name));

function runBench(bench, logFile) {
  return new Promise((resolve) => {
    const script = join(ROOT, 'tools', 'bench', bench.name, 'bench.mjs');
    console.log(`\n=== bench ${bench.name}: node ${relative(ROOT, script)} ${bench.args.join(' ')}`);
    const started = Date.now();
    const child = spawn(process.execPath, [script, ...bench.args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    const take = (chunk) => {
      const s = chunk.toString('utf8');
      text += s;
      process.stdout.write(s);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('exit', (code, signal) => {
      writeFileSync(logFile, text);
      const seconds = (Date.now() - started) / 1000;
      console.log(`=== bench ${bench.name}: exit ${code ?? signal} after ${seconds.toFixed(0)} s`);
      resolve({ code: code ?? 1, seconds, lines: text.split('\n').map((l) => l.trimEnd()) });
    });
  });
}

async function machine() {
  const cpus = os.cpus();
  const info = {
    cpu: `${cpus[0]?.model ?? 'unknown'} × ${cpus.length} logical cores`,
    ram: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()} (${os.arch()})`,
    node: process.version,
    postgres: 'unreachable',
    nats: 'unreachable',
  };
  const c = new pg.Client({ connectionString: 'postgresql://postgres@127.0.0.1:5432/postgres' });
  try {
    await c.connect();
    const { rows } = await c.query('SELECT version() AS v, current_setting(\'fsync\') AS fsync, current_setting(\'synchronous_commit\') AS sc, current_setting(\'shared_buffers\') AS sb');
    info.postgres = `${rows[0].v.split(' on ')[0]} (fsync ${rows[0].fsync}, synchronous_commit ${rows[0].sc}, shared_buffers ${rows[0].sb})`;
  } catch {
    /* reported as unreachable */
  } finally {
    await c.end().catch(() => undefined);
  }
  try {
    const nc = await connect({ servers: 'nats://127.0.0.1:4222', name: 'bench-report' });
    info.nats = `nats-server ${nc.info?.version ?? '?'} (JetStream ${nc.info?.jetstream ? 'on' : 'off'})`;
    await nc.close();
  } catch {
    /* reported as unreachable */
  }
  return info;
}

async function main() {
  if (!values['no-build']) {
    console.log('=== build: the apps and libs the benchmarks run, then tools/dist (without the apps they do not run)');
    const env = { ...process.env, NX_DAEMON: 'false', NX_TUI: 'false' };
    execSync('npx nx run-many -t build -p gateway tasks authz-proxy --output-style=stream-without-prefixes', { cwd: ROOT, stdio: 'inherit', env });
    execSync('npm run build -w @agentplane/tools', { cwd: ROOT, stdio: 'inherit', env });
  }
  const rawDir = join(ROOT, 'bench', 'raw');
  mkdirSync(rawDir, { recursive: true });
  const startedAt = new Date();
  const load0 = os.loadavg();
  const results = [];
  for (const bench of BENCHES) results.push({ bench, ...(await runBench(bench, join(rawDir, `${bench.name}.log`))) });
  const load1 = os.loadavg();
  const m = await machine();

  const md = [];
  md.push('# Benchmark report', '');
  md.push(`Written by \`npm run bench${QUICK ? ' -- --quick' : ''}\` (tools/bench/run-all.mjs) on ${startedAt.toISOString().slice(0, 10)}, started ${startedAt.toISOString().slice(11, 19)} UTC, ${((Date.now() - startedAt.getTime()) / 60000).toFixed(1)} min in all.`);
  md.push('Every figure below comes from this one run; each benchmark measures its own baseline in the same run (nothing is copied from elsewhere).');
  if (QUICK) md.push('', '**Quick mode**: shorter runs and fewer migration rows than the issues specify; figures are noisier.');
  md.push('', '## Machine', '');
  md.push('| | |', '| --- | --- |');
  md.push(`| CPU | ${m.cpu} |`, `| RAM | ${m.ram} |`, `| OS | ${m.os} |`, `| Node | ${m.node} |`, `| PostgreSQL | ${m.postgres} |`, `| NATS | ${m.nats} |`);
  md.push(`| load average (1/5/15 min) | at start ${load0.map((x) => x.toFixed(2)).join(' / ')}; at end ${load1.map((x) => x.toFixed(2)).join(' / ')} |`);
  md.push('', 'PostgreSQL, NATS, the apps under test and the load generators all share this machine.');
  const cores = os.cpus().length;
  // The benchmarks saturate the cores themselves, so only the load before they started tells of other work.
  if (load0[0] > cores) {
    md.push(`The load average exceeded the ${cores} cores when the run started: other work shared the CPUs, which lowers throughput and makes the ratios between cases measured seconds apart noisier.`);
  }

  md.push('', '## Targets (issues 3–6, 18 and 19)', '');
  md.push('| issue | benchmark | measure | this run | target | met |', '| --- | --- | --- | ---: | --- | --- |');
  let unmet = 0;
  for (const r of results) {
    for (const [label, value, target, ok, shown] of r.bench.targets(r.lines)) {
      const met = ok === null ? '' : value === undefined || Number.isNaN(value) ? '**no figure**' : ok(value) ? 'yes' : '**no**';
      if (met.startsWith('**')) unmet += 1;
      md.push(`| ${r.bench.issue} | ${r.bench.name} | ${label} | ${shown ?? fmtValue(value, ok)} | ${target} | ${met} |`);
    }
  }
  md.push('', unmet === 0 ? 'Every target met in this run.' : `${unmet} target(s) not met in this run (marked **no**).`);

  for (const r of results) {
    md.push('', `## ${r.bench.name} (issue ${r.bench.issue})`, '');
    md.push(r.bench.title + '.', '');
    md.push(`\`node tools/bench/${r.bench.name}/bench.mjs${r.bench.args.length ? ` ${r.bench.args.join(' ')}` : ''}\` — exit ${r.code}, ${r.seconds.toFixed(0)} s.`, '');
    const figures = r.bench.figures(r.lines);
    if (r.bench.name === 'authz') {
      // the benchmark prints a markdown table already
      md.push(...figures.filter((l) => l.startsWith('|')), '');
      md.push(...figures.filter((l) => !l.startsWith('|')).map((l) => `${l}  `));
      const ratios = r.lines.find((l) => l.startsWith('p50 ratio'));
      if (ratios) md.push(ratios);
    } else {
      // the figure lines and the benchmark's own verdict lines, in the order it printed them
      const shown = new Set(figures);
      md.push('```', ...r.lines.filter((l) => shown.has(l) || (/\bratio\b|÷|PASS|FAIL/.test(l) && !l.startsWith('{'))), '```');
    }
    if (r.code !== 0) md.push('', `**The benchmark exited ${r.code}**; the last lines of its output:`, '', '```', ...r.lines.filter(Boolean).slice(-15), '```');
  }
  const out = resolve(ROOT, values.out);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${md.join('\n')}\n`);
  console.log(`\nwrote ${relative(ROOT, out)} (raw logs in ${relative(ROOT, rawDir)}/)`);
  process.exitCode = results.some((r) => r.code !== 0) ? 1 : 0;
}

await main();
