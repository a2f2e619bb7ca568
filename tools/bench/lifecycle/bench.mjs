#!/usr/bin/env node
// Task lifecycle benchmark (issue 18): tasks run end to end per second, and the create → completed latency, against
// pg-boss doing send → fetch → complete on the same PostgreSQL, at the same concurrency, in interleaved rounds.
//   Agentplane: producers POST /v1/tasks through the gateway (JWT, authz check, idempotency-free creates, the task
//   row + event + outbox in one transaction); workers are libs/worker AgentWorkers over NATS (secured, own server)
//   claiming with a long-poll, completing at once. pg-boss: producers boss.send, workers boss.fetch + boss.complete.
//   Latency from each system's own rows: tasks.finished_at − created_at; pgboss.job.completed_on − created_on.
// Needs the apps and tools built:  npx nx run-many -t build
//   node tools/bench/lifecycle/bench.mjs [--seconds 8] [--rounds 2] [--producers 4] [--workers 4]
import { parseArgs } from 'node:util';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { connect } from '@nats-io/transport-node';
import { natsConnectionOptions } from '@agentplane/messaging';
import { createTestDatabase } from '@agentplane/persistence';
import { AgentWorker } from '@agentplane/worker';
import { migrationsDir } from '../../dist/stack.js';
import { startBenchStack } from '../stack-under-test.mjs';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '2' },
    producers: { type: 'string', default: '4' },
    workers: { type: 'string', default: '4' },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const PRODUCERS = Number(values.producers);
const WORKERS = Number(values.workers);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const cleanup = [];
const query = async (url, sql, params = []) => {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows;
  } finally {
    await c.end();
  }
};

try {
  // ---- Agentplane: authz-proxy, tasks and the gateway on a secured NATS of the bench's own ----------------------
  const bench = await startBenchStack({ callers: ['bench-worker'] });
  cleanup.push(() => bench.stop());
  const { stack, nats, dbs } = bench;
  const owner = await bench.token('bench-owner');
  const post = (path, body) => bench.post(path, owner, body);
  const workerId = await nats.identity('bench-worker');
  let seq = 0;

  async function agentplaneRound(max) {
    const agent = await post('/v1/agents', { name: `lifecycle-${max}-${++seq}` });
    if (agent.status !== 201) throw new Error(`agent: ${agent.status} ${JSON.stringify(agent.body)}`);
    const agentId = agent.body.id;
    const conns = [];
    const workers = [];
    for (let w = 0; w < WORKERS; w++) {
      const nc = await connect({ ...natsConnectionOptions({ servers: nats.url, prefix: '', name: `bench-worker-${w}`, auth: { nkeySeedFile: workerId.seedFile, inboxPrefix: workerId.inboxPrefix } }), noAsyncTraces: true });
      conns.push(nc);
      // one task per claim (concurrency 1), or up to `max` per claim
      const worker = new AgentWorker({ nc, token: owner, agentId, workerId: `w${w}`, concurrency: max, waitMs: 1_000, handler: async () => ({ ok: true }) });
      worker.start();
      workers.push(worker);
    }
    let producing = true;
    let errors = 0;
    const producers = Array.from({ length: PRODUCERS }, async (_, p) => {
      for (let i = 0; producing; i++) {
        const r = await post('/v1/tasks', { agentId, name: `t-${seq}-${p}-${i}` }).catch(() => ({ status: 0 }));
        if (r.status !== 201) errors++;
      }
    });
    const from = new Date();
    await sleep(SECONDS * 1000);
    producing = false;
    await Promise.all(producers);
    // let the workers finish what was created, then count what completed inside the window
    const drainUntil = Date.now() + 30_000;
    while (Date.now() < drainUntil) {
      const [r] = await query(dbs.tasks.url, "SELECT count(*)::int AS n FROM tasks WHERE agent_id = $1 AND status <> 'completed'", [agentId]);
      if (r.n === 0) break;
      await sleep(200);
    }
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all(conns.map((c) => c.close()));
    const rows = await query(
      dbs.tasks.url,
      "SELECT extract(epoch FROM finished_at - created_at) * 1000 AS ms, finished_at FROM tasks WHERE agent_id = $1 AND status = 'completed'",
      [agentId],
    );
    const inWindow = rows.filter((r) => r.finished_at.getTime() <= from.getTime() + SECONDS * 1000);
    const lat = rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
    const [left] = await query(dbs.tasks.url, "SELECT count(*)::int AS n FROM tasks WHERE agent_id = $1 AND status <> 'completed'", [agentId]);
    return { perSecond: inWindow.length / SECONDS, p50: pct(lat, 50), p99: pct(lat, 99), errors: errors + left.n, total: rows.length };
  }

  // ---- pg-boss on the same PostgreSQL --------------------------------------------------------------------------------
  const bossDb = await createTestDatabase({ service: 'tasks', migrationsDir: migrationsDir('tasks') });
  cleanup.push(() => bossDb.drop());
  const boss = new PgBoss({ connectionString: bossDb.url, max: 20 });
  boss.on('error', () => undefined);
  await boss.start();
  cleanup.push(() => boss.stop({ graceful: false, wait: false }).catch(() => undefined));

  async function pgBossRound(max) {
    const queue = `bench_${max}_${++seq}`;
    await boss.createQueue(queue);
    let producing = true;
    let working = true;
    let errors = 0;
    const producers = Array.from({ length: PRODUCERS }, async () => {
      while (producing) {
        try {
          await boss.send(queue, { at: Date.now() });
        } catch {
          errors++;
        }
      }
    });
    const workers = Array.from({ length: WORKERS }, async () => {
      while (working) {
        const jobs = await boss.fetch(queue, { batchSize: max }).catch(() => (errors++, []));
        if (jobs.length === 0) {
          await sleep(5); // a short poll: pg-boss has no push wake-up
          continue;
        }
        await boss.complete(queue, jobs.map((j) => j.id)).catch(() => errors++);
      }
    });
    const from = Date.now();
    await sleep(SECONDS * 1000);
    producing = false;
    await Promise.all(producers);
    const drainUntil = Date.now() + 30_000;
    while (Date.now() < drainUntil) {
      const [r] = await query(bossDb.url, "SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state <> 'completed'", [queue]);
      if (r.n === 0) break;
      await sleep(200);
    }
    working = false;
    await Promise.all(workers);
    const rows = await query(bossDb.url, "SELECT extract(epoch FROM completed_on - created_on) * 1000 AS ms, completed_on FROM pgboss.job WHERE name = $1 AND state = 'completed'", [queue]);
    const inWindow = rows.filter((r) => r.completed_on.getTime() <= from + SECONDS * 1000);
    const lat = rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
    const [left] = await query(bossDb.url, "SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state <> 'completed'", [queue]);
    return { perSecond: inWindow.length / SECONDS, p50: pct(lat, 50), p99: pct(lat, 99), errors: errors + left.n, total: rows.length };
  }

  console.log(`lifecycle bench: ${PRODUCERS} producers, ${WORKERS} workers, ${SECONDS} s per round, ${ROUNDS} interleaved rounds per case`);
  const fmt = (r) => `${r.perSecond.toFixed(0).padStart(5)} tasks/s   create→completed p50 ${r.p50.toFixed(0).padStart(5)} ms   p99 ${r.p99.toFixed(0).padStart(6)} ms   errors ${r.errors}`;
  const summary = {};
  for (const max of [1, 10]) {
    const ours = [];
    const theirs = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const a = await agentplaneRound(max);
      console.log(`max ${String(max).padStart(2)}  round ${r}  agentplane ${fmt(a)}`);
      ours.push(a);
      const b = await pgBossRound(max);
      console.log(`max ${String(max).padStart(2)}  round ${r}  pg-boss    ${fmt(b)}`);
      theirs.push(b);
    }
    const a = median(ours.map((x) => x.perSecond));
    const b = median(theirs.map((x) => x.perSecond));
    summary[`max${max}`] = {
      agentplane_tasks_per_s: a,
      pgboss_tasks_per_s: b,
      ratio: a / b,
      agentplane_p50_ms: median(ours.map((x) => x.p50)),
      agentplane_p99_ms: median(ours.map((x) => x.p99)),
      pgboss_p50_ms: median(theirs.map((x) => x.p50)),
      pgboss_p99_ms: median(theirs.map((x) => x.p99)),
      agentplane_errors: ours.reduce((n, x) => n + x.errors, 0),
      pgboss_errors: theirs.reduce((n, x) => n + x.errors, 0),
    };
    console.log(`max ${String(max).padStart(2)}  agentplane ÷ pg-boss tasks/s (medians): ${a.toFixed(0)} ÷ ${b.toFixed(0)} = ${(a / b).toFixed(3)}${max === 1 ? ` (target ≥ 0.5) ${a / b >= 0.5 && summary.max1.agentplane_errors === 0 ? 'PASS' : 'FAIL'}` : ''}`);
  }
  console.log(JSON.stringify({ bench: 'lifecycle', producers: PRODUCERS, workers: WORKERS, seconds: SECONDS, rounds: ROUNDS, ...summary }));
} finally {
  for (const f of cleanup.reverse()) await Promise.resolve(f()).catch(() => undefined);
}
process.exit(0);
