#!/usr/bin/env node
// Idempotency benchmark (DESIGN §7, issue 4): what does an Idempotency-Key cost on a mutating call?
// Through the gateway (HTTP → NATS → tasks → PostgreSQL), with autocannon, POST /v1/tasks (create-task, as the issue
// names it; the task row and its outbox event commit together and the relay publishes them), on two paths:
//   owner    the agent's owner creates: tasks answers `write` from the agent row, no authz round trip; the cheapest
//            create there is, so the key's share of it is the largest (apps: gateway, tasks);
//   granted  a user with a `write` grant on the agent creates: tasks asks authz-proxy, which also consumes the task's
//            registration event; the create every other caller makes, as tools/bench/tasks measures it
//            (apps: gateway, tasks, authz-proxy).
// On each path (a) without a key and (b) with a fresh key per request alternate in rounds within one run; on the owner
// path (c) replays the same key and body again and again (every answer is the stored response), in rounds after those.
// Reports req/s of (b) ÷ (a) per path (target ≥ 0.85) and replay p50 vs fresh p50 (target replay ≤ fresh).
// Needs the apps and tools built:
//   npx nx run-many -t build -p gateway tasks authz-proxy tools
//   node tools/bench/idempotency/bench.mjs [--seconds 4] [--rounds 8] [--connections 16] [--pool-max 10]
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { signDevToken } from '@agentplane/auth';
import { createTestDatabase } from '@agentplane/persistence';
import { cpus } from 'node:os';
import { createEventsStream } from '../../dist/nats-stream.js';
import { migrationsDir, startStack } from '../../dist/stack.js';
import { cpuPerRequest, cpuSnapshot, formatCpu } from '../cpu.mjs';

const { values } = parseArgs({
  options: {
    // Many short rounds rather than a few long ones: on a shared 2-core VM the machine's speed drifts by a third within
    // a minute, and alternating the cases every few seconds spreads that drift evenly over them.
    seconds: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '8' },
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
const tok = (sub, roles = []) => signDevToken({ secret: SECRET, issuer: 'agentplane', audience: 'agentplane', tenant: 'bench', sub, roles });

let seq = 0;
/** One autocannon run; every request a new task name, and a new key when `keyed`; or one fixed request for replays. */
function load(gatewayUrl, token, agentId, mode, seconds) {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const fixed = { agentId, name: `replayed-${run}`, params: { replay: true } };
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `${gatewayUrl}/v1/tasks`,
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
const mean = (xs, f) => xs.reduce((a, x) => a + f(x), 0) / xs.length;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const meanCpu = (xs) => Object.fromEntries(Object.keys(xs[0].cpu).map((k) => [k, mean(xs, (s) => s.cpu[k])]));

async function post(gatewayUrl, path, token, body) {
  const res = await fetch(`${gatewayUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

/**
 * Starts the apps of one path on fresh databases, creates the agent (and, on the granted path, the grant), then runs
 * `modes` alternated over the rounds. Returns the summaries by mode.
 */
async function measurePath(path, modes) {
  const granted = path === 'granted';
  const dbs = { tasks: await createTestDatabase({ service: 'tasks', migrationsDir: migrationsDir('tasks') }) };
  if (granted) dbs['authz-proxy'] = await createTestDatabase({ service: 'authz-proxy', migrationsDir: migrationsDir('authz-proxy') });
  const natsEnv = { NATS_URL: 'nats://127.0.0.1:4222', NATS_SUBJECT_PREFIX: `bench_idem_${run}_${path}.` };
  await createEventsStream(natsEnv); // services only check the stream: operators create it first
  const stack = await startStack({
    only: granted ? ['authz-proxy', 'tasks', 'gateway'] : ['tasks', 'gateway'],
    env: { ...natsEnv, AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'warn' },
    serviceEnv: {
      tasks: { DATABASE_URL: dbs.tasks.url, DATABASE_POOL_MAX: values['pool-max'] },
      ...(granted ? { 'authz-proxy': { DATABASE_URL: dbs['authz-proxy'].url, DATABASE_POOL_MAX: values['pool-max'] } } : {}),
    },
  });
  try {
    const owner = await tok('bench-user');
    const agent = await post(stack.gatewayUrl, '/v1/agents', owner, { name: `bench-agent-${run}` });
    if (agent.status !== 201) throw new Error(`could not create the bench agent: ${agent.status} ${JSON.stringify(agent.body)}`);
    let token = owner;
    if (granted) {
      // The worker may write to the agent through a grant, once authz-proxy has the agent's registration.
      const admin = await tok('bench-admin', ['admin']);
      let g;
      for (let i = 0; i < 100; i++) {
        g = await post(stack.gatewayUrl, '/v1/authz/grants', admin, { subject: 'user:bench-worker', action: 'write', resource: `agent:${agent.body.id}` });
        if (g.status === 201 || g.status === 200) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      if (g.status !== 201 && g.status !== 200) throw new Error(`could not grant write on the bench agent: ${g.status} ${JSON.stringify(g.body)}`);
      token = await tok('bench-worker');
    }
    const go = (mode, seconds) => load(stack.gatewayUrl, token, agent.body.id, mode, seconds);
    const cases = Object.fromEntries(modes.map((m) => [m, []]));
    const measure = async (mode, round) => {
      const before = cpuSnapshot(stack);
      const r = await go(mode, SECONDS);
      const s = summary(r, cpuPerRequest(before, cpuSnapshot(stack), r.requests.total));
      cases[mode].push(s);
      console.log(`${path.padEnd(7)} round ${round}  ${mode.padEnd(6)} ${fmt(s)}`);
    };
    // Without and with a key alternate (plain keyed | keyed plain | …), so both have the same neighbours and neither
    // always runs on a warmer (or fuller) database. Replays run after them, in rounds of their own: a replay's
    // aftermath (in transaction mode its rolled-back insert leaves a dead tuple for autovacuum) would otherwise
    // always fall on the keyed rounds next to it.
    const paired = modes.filter((m) => m !== 'replay');
    for (const mode of paired) await go(mode, WARMUP);
    for (let i = 0; i < ROUNDS; i++) for (const mode of i % 2 === 0 ? paired : [...paired].reverse()) await measure(mode, i + 1);
    if (modes.includes('replay')) {
      await go('replay', 1); // the first replay request creates the task
      for (let i = 0; i < Math.max(2, Math.ceil(ROUNDS / 2)); i++) await measure('replay', i + 1);
    }
    return cases;
  } finally {
    await stack.stop();
    await Promise.all(Object.values(dbs).map((d) => d.drop()));
  }
}

console.log(
  `idempotency bench: POST /v1/tasks (create-task) through the gateway, ${CONNECTIONS} connections, tasks pool ${values['pool-max']}, ${ROUNDS} rounds × ${SECONDS} s per case, on the owner path and the granted path`,
);
const paths = { owner: await measurePath('owner', ['plain', 'keyed', 'replay']), granted: await measurePath('granted', ['plain', 'keyed']) };
console.log('');
let failures = 0;
const ratios = {};
for (const [path, cases] of Object.entries(paths)) {
  const plainRps = mean(cases.plain, (s) => s.rps);
  const keyedRps = mean(cases.keyed, (s) => s.rps);
  const ratio = keyedRps / plainRps;
  ratios[path] = ratio;
  failures += Object.values(cases).flat().reduce((a, s) => a + s.non2xx + s.errors, 0);
  console.log(`${path} path, without key   ${plainRps.toFixed(0)} req/s (mean of ${ROUNDS})   p50 ${median(cases.plain.map((s) => s.p50))} ms`);
  console.log(`${path} path, with key      ${keyedRps.toFixed(0)} req/s (mean of ${ROUNDS})   p50 ${median(cases.keyed.map((s) => s.p50))} ms (fresh)`);
  // CPU per request by process, averaged over the rounds of each case: what a key costs, and where.
  console.log(`${path} path, CPU per request without key: ${formatCpu(meanCpu(cases.plain), plainRps, cpus().length)}`);
  console.log(`${path} path, CPU per request with key:    ${formatCpu(meanCpu(cases.keyed), keyedRps, cpus().length)}`);
  // Each round's keyed ÷ its plain (run back to back): how far the machine's drift spreads the ratio.
  const perRound = cases.keyed.map((k, i) => k.rps / cases.plain[i].rps).sort((a, b) => a - b);
  console.log(
    `${path} path, per-round ratios: min ${perRound[0].toFixed(3)}   median ${median(perRound).toFixed(3)}   max ${perRound[perRound.length - 1].toFixed(3)}`,
  );
  console.log(`${path} path, ratio with/without key: ${ratio.toFixed(3)} (target ≥ 0.85) ${ratio >= 0.85 ? 'PASS' : 'FAIL'}`);
}
const replay = paths.owner.replay;
const replayP50 = median(replay.map((s) => s.p50));
const freshP50 = median(paths.owner.keyed.map((s) => s.p50));
console.log(`owner path, replay        ${mean(replay, (s) => s.rps).toFixed(0)} req/s (mean of ${replay.length}, after the paired rounds)   p50 ${replayP50} ms`);
console.log(`replay p50 ≤ fresh p50: ${replayP50} ≤ ${freshP50} ${replayP50 <= freshP50 ? 'PASS' : 'FAIL'}`);
console.log(`non-2xx answers or errors over all cases: ${failures}`);
// The figures at full precision, for tools/bench/run-all.mjs (which judges the targets on these, not on the text).
console.log(JSON.stringify({ bench: 'idempotency', owner_ratio: ratios.owner, granted_ratio: ratios.granted, replay_p50_ms: replayP50, fresh_p50_ms: freshP50, failures }));
