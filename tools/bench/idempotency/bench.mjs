#!/usr/bin/env node
// Idempotency benchmark (DESIGN §7, issue 4): what does an Idempotency-Key cost on a mutating call?
// Through the gateway (HTTP → NATS → tasks → PostgreSQL), with autocannon, POST /v1/tasks (create-task, as the issue
// names it; by the agent's owner, so no authz round trip dilutes the key's cost; the task row and its outbox event
// commit together and the relay publishes them):
//   (a) without a key, (b) with a fresh key per request, alternated in rounds within one run, and
//   (c) replays: the same key and body again and again (every answer is the stored response).
// Reports req/s of (b) ÷ (a) (target ≥ 0.85) and replay p50 vs fresh p50 (target replay ≤ fresh).
// Needs the apps and tools built:
//   npx nx run-many -t build -p gateway tasks tools
//   node tools/bench/idempotency/bench.mjs [--seconds 10] [--rounds 3] [--connections 16] [--pool-max 10]
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { signDevToken } from '@agentplane/auth';
import { createTestDatabase } from '@agentplane/persistence';
import { cpus } from 'node:os';
import { migrationsDir, startStack } from '../../dist/stack.js';
import { cpuPerRequest, cpuSnapshot, formatCpu } from '../cpu.mjs';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '16' },
    'warmup-seconds': { type: 'string', default: '3' },
    // tasks' DATABASE_POOL_MAX: below the connection count, the pool (not the CPU) sets the pace.
    'pool-max': { type: 'string', default: '10' },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const CONNECTIONS = Number(values.connections);
const WARMUP = Number(values['warmup-seconds']);
const SECRET = 'bench-secret-0123456789-abcdefghij';
const run = randomBytes(3).toString('hex');

const db = await createTestDatabase({ service: 'tasks', migrationsDir: migrationsDir('tasks') });
const stack = await startStack({
  only: ['tasks', 'gateway'],
  env: {
    NATS_URL: 'nats://127.0.0.1:4222',
    NATS_SUBJECT_PREFIX: `bench_idem_${run}.`,
    AUTH_JWT_SECRET: SECRET,
    LOG_LEVEL: 'warn',
  },
  serviceEnv: { tasks: { DATABASE_URL: db.url, DATABASE_POOL_MAX: values['pool-max'] } },
});
const token = await signDevToken({ secret: SECRET, issuer: 'agentplane', audience: 'agentplane', tenant: 'bench', sub: 'bench-user' });
const agentRes = await fetch(`${stack.gatewayUrl}/v1/agents`, {
  method: 'POST',
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  body: JSON.stringify({ name: `bench-agent-${run}` }),
});
if (agentRes.status !== 201) throw new Error(`could not create the bench agent: ${agentRes.status} ${await agentRes.text()}`);
const agentId = (await agentRes.json()).id;

let seq = 0;
/** One autocannon run; every request a new task name, and a new key when `keyed`; or one fixed request for replays. */
function load(mode, seconds) {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const fixed = { agentId, name: `replayed-${run}`, params: { replay: true } };
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `${stack.gatewayUrl}/v1/tasks`,
        connections: CONNECTIONS,
        duration: seconds,
        requests: [
          {
            method: 'POST',
            setupRequest: (req) => {
              const n = ++seq;
              if (mode === 'replay') return { ...req, headers: { ...headers, 'idempotency-key': `replay-${run}` }, body: JSON.stringify(fixed) };
              const h = mode === 'keyed' ? { ...headers, 'idempotency-key': `k-${run}-${n}` } : headers;
              return { ...req, headers: h, body: JSON.stringify({ agentId, name: `${mode}-${run}-${n}`, params: { n } }) };
            },
          },
        ],
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
  });
}

function summary(r, cpu) {
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, ok: r['2xx'], non2xx: r.non2xx, errors: r.errors, cpu };
}

const fmt = (s) => `${s.rps.toFixed(0).padStart(6)} req/s   p50 ${String(s.p50).padStart(3)} ms   p99 ${String(s.p99).padStart(4)} ms   2xx ${s.ok}   non-2xx ${s.non2xx}   errors ${s.errors}`;

try {
  console.log(`idempotency bench: POST /v1/tasks (create-task) through the gateway, ${CONNECTIONS} connections, tasks pool ${values['pool-max']}, ${ROUNDS} rounds × ${SECONDS} s per case`);
  await load('plain', WARMUP);
  await load('keyed', WARMUP);
  // The first replay request creates the task; the rest replay it.
  await load('replay', 1);
  const cases = { plain: [], keyed: [], replay: [] };
  for (let i = 0; i < ROUNDS; i++) {
    // Alternate the order per round so neither case always runs on a warmer (or fuller) database.
    const order = i % 2 === 0 ? ['plain', 'keyed', 'replay'] : ['replay', 'keyed', 'plain'];
    for (const mode of order) {
      const before = cpuSnapshot(stack);
      const r = await load(mode, SECONDS);
      const s = summary(r, cpuPerRequest(before, cpuSnapshot(stack), r.requests.total));
      cases[mode].push(s);
      console.log(`round ${i + 1}  ${mode.padEnd(6)} ${fmt(s)}`);
    }
  }
  const mean = (xs, f) => xs.reduce((a, x) => a + f(x), 0) / xs.length;
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const plainRps = mean(cases.plain, (s) => s.rps);
  const keyedRps = mean(cases.keyed, (s) => s.rps);
  const replayRps = mean(cases.replay, (s) => s.rps);
  const freshP50 = median(cases.keyed.map((s) => s.p50));
  const replayP50 = median(cases.replay.map((s) => s.p50));
  const plainP50 = median(cases.plain.map((s) => s.p50));
  const failures = Object.values(cases).flat().reduce((a, s) => a + s.non2xx + s.errors, 0);
  console.log('');
  console.log(`without key   ${plainRps.toFixed(0)} req/s (mean of ${ROUNDS})   p50 ${plainP50} ms`);
  console.log(`with key      ${keyedRps.toFixed(0)} req/s                     p50 ${freshP50} ms (fresh)`);
  console.log(`replay        ${replayRps.toFixed(0)} req/s                     p50 ${replayP50} ms`);
  // CPU per request by process, summed over the rounds of each case: what a key costs, and where.
  const meanCpu = (xs) => Object.fromEntries(Object.keys(xs[0].cpu).map((k) => [k, mean(xs, (s) => s.cpu[k])]));
  console.log(`CPU per request without key: ${formatCpu(meanCpu(cases.plain), plainRps, cpus().length)}`);
  console.log(`CPU per request with key:    ${formatCpu(meanCpu(cases.keyed), keyedRps, cpus().length)}`);
  console.log(`ratio with/without key: ${(keyedRps / plainRps).toFixed(3)} (target ≥ 0.85) ${keyedRps / plainRps >= 0.85 ? 'PASS' : 'FAIL'}`);
  console.log(`replay p50 ≤ fresh p50: ${replayP50} ≤ ${freshP50} ${replayP50 <= freshP50 ? 'PASS' : 'FAIL'}`);
  console.log(`non-2xx answers or errors over all cases: ${failures}`);
} finally {
  await stack.stop();
  await db.drop();
}
