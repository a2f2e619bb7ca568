#!/usr/bin/env node
// Where PostgreSQL's CPU goes under one kind of load, by statement (issue 19): while the load runs, samples
// pg_stat_activity every few milliseconds and counts, for the stack's two databases, the backends that are running a
// statement and waiting for nothing (no lock, no I/O, no WAL flush: on the CPU, as near as the view tells). A
// statement's share of those samples is its share of the databases' busy backends. The statement texts come
// from the services' own SQL, shortened. Used with `/proc`'s PostgreSQL CPU per request (the tasks bench prints it):
// the share says which statement that CPU went to.
//   node tools/bench/profile/pg-statements.mjs --scenario floor|create [--seconds 10] [--connections 16] [--every 5]
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startBenchStack } from '../stack-under-test.mjs';
import { cpuPerRequest, cpuSnapshot, cpuTicks } from '../cpu.mjs';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'create' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    every: { type: 'string', default: '5' },
  },
});
const SCENARIO = values.scenario;
if (!['floor', 'create'].includes(SCENARIO)) throw new Error('--scenario must be floor or create');
const SECONDS = Number(values.seconds);
const EVERY_MS = Number(values.every);
if (!(SECONDS > 0) || !(EVERY_MS > 0) || !(Number(values.connections) > 0)) throw new Error('--seconds, --connections and --every must be positive numbers');

const bench = await startBenchStack();
try {
  const { stack } = bench;
  const loads = await bench.grantedTaskLoads({ agentName: 'pg-statements-agent', connections: Number(values.connections) });
  await loads[SCENARIO](3); // warm-up

  const databases = { [new URL(bench.dbs.tasks.url).pathname.slice(1)]: 'tasks', [new URL(bench.dbs['authz-proxy'].url).pathname.slice(1)]: 'authz-proxy' };
  const sampler = new pg.Client({ connectionString: bench.dbs.tasks.url });
  await sampler.connect();
  const samplerPid = (await sampler.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  // the sampler's own backend is not the load's: its CPU is taken out of PostgreSQL's
  const ticks = () => cpuTicks(samplerPid);
  const onCpu = new Map();
  let samples = 0;
  let sampling = true;
  const sampling$ = (async () => {
    while (sampling) {
      const { rows } = await sampler.query(
        `SELECT datname, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS q
           FROM pg_stat_activity
          WHERE datname = ANY($1) AND state = 'active' AND wait_event_type IS NULL AND pid <> pg_backend_pid()`,
        [Object.keys(databases)],
      );
      samples++;
      for (const r of rows) {
        const key = `${databases[r.datname]}: ${r.q.trim()}`;
        onCpu.set(key, (onCpu.get(key) ?? 0) + 1);
      }
      await new Promise((resolve) => setTimeout(resolve, EVERY_MS));
    }
  })();
  const before = cpuSnapshot(stack);
  const samplerBefore = ticks();
  const r = await loads[SCENARIO](SECONDS);
  const cpu = cpuPerRequest(before, cpuSnapshot(stack), r.requests.total);
  const pgMs = cpu.postgres - ((ticks() - samplerBefore) * 10) / r.requests.total;
  sampling = false;
  await sampling$;
  await sampler.end();

  const busy = [...onCpu.values()].reduce((a, b) => a + b, 0);
  console.log(`pg-statements ${SCENARIO}: ${r.requests.average.toFixed(0)} req/s, errors ${r.errors + r.non2xx + r.timeouts}, ${samples} samples of pg_stat_activity`);
  console.log(`PostgreSQL CPU per request (from /proc): ${pgMs.toFixed(3)} ms (the sampler's own backend taken out); busy backends per sample: ${(busy / samples).toFixed(2)}`);
  console.log('share of the busy backends, by statement:');
  for (const [q, n] of [...onCpu].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
    console.log(`${((100 * n) / busy).toFixed(1).padStart(6)} %  ~${((pgMs * n) / busy).toFixed(3)} ms  ${q}`);
  }
} finally {
  await bench.stop();
}
process.exit(0);
