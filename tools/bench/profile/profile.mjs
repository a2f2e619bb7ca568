#!/usr/bin/env node
// Profiles each process of the stack under one kind of load (issue 19): V8's sampling profiler in the gateway, tasks
// and authz-proxy (tools/bench/profile/hook.mjs, started after the warm-up and stopped at the end of the load), then
// prints per process the CPU per request (from /proc) and where it went: self time by package and top functions;
// nats-server's too, from its Go profiler (`prof_port`, secured NATS only).
//   floor:     GET /v1/tasks/{id} by its creator through the gateway (one indexed SELECT, no authz round trip)
//   create:    POST /v1/tasks by a grantee (authz check on the agent, a fresh Idempotency-Key per request)
//   lifecycle: 4 producers create through the gateway while 4 AgentWorkers claim (one per claim) and complete over NATS
// Needs the apps and tools built:  npx nx run-many -t build
//   node tools/bench/profile/profile.mjs --scenario floor|create|lifecycle [--seconds 10] [--connections 16] [--out DIR]
// Two scenarios written under the same --out compare function by function: compare.mjs DIR/floor DIR/create
import { mkdirSync, existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { natsConnectionOptions } from '@agentplane/messaging';
import { AgentWorker } from '@agentplane/worker';
import { startBenchStack } from '../stack-under-test.mjs';
import { cpuPerRequest, cpuSnapshot, formatCpu } from '../cpu.mjs';
import { formatSummary, summarize } from './summarize.mjs';
import { formatGoSummary, summarizeGoProfile } from './go-profile.mjs';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'floor' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    out: { type: 'string', default: `.dev/profiles/${new Date().toISOString().replace(/[:.]/g, '-')}` },
    nats: { type: 'string', default: 'secured' },
  },
});
const SCENARIO = values.scenario;
if (!['floor', 'create', 'lifecycle'].includes(SCENARIO)) throw new Error('--scenario must be floor, create or lifecycle');
const SECONDS = Number(values.seconds);
const C = Number(values.connections);
const OUT = resolve(values.out, SCENARIO);
mkdirSync(OUT, { recursive: true });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const bench = await startBenchStack({ nats: values.nats, profileDir: OUT, callers: ['bench-worker'] });
try {
  const { stack, post, token } = bench;
  let seq = 0;
  const summary = (r) => ({ requests: r.requests.total, errors: r.errors + r.non2xx + r.timeouts, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 });
  let load;
  if (SCENARIO !== 'lifecycle') {
    const loads = await bench.grantedTaskLoads({ agentName: 'profile-agent', connections: C });
    load = async (s) => summary(await loads[SCENARIO](s));
  } else {
    const owner = await token('agent-owner');
    const agent = await bench.agentWithGrant(owner, 'bench-worker', 'write', 'profile-agent');
    const id = await bench.nats.identity('bench-worker');
    load = async (s) => {
      const conns = [];
      const workers = [];
      for (let w = 0; w < 4; w++) {
        const nc = await connect({ ...natsConnectionOptions({ servers: bench.nats.url, prefix: '', name: `profile-worker-${w}`, auth: { nkeySeedFile: id.seedFile, inboxPrefix: id.inboxPrefix } }), noAsyncTraces: true });
        conns.push(nc);
        const aw = new AgentWorker({ nc, token: owner, agentId: agent.id, workerId: `w${w}`, concurrency: 1, waitMs: 1_000, handler: async () => ({ ok: true }) });
        aw.start();
        workers.push(aw);
      }
      let producing = true;
      let created = 0;
      let errors = 0;
      const producers = Array.from({ length: 4 }, async () => {
        while (producing) {
          const r = await post('/v1/tasks', owner, { agentId: agent.id, name: `l-${++seq}` }).catch(() => ({ status: 0 }));
          if (r.status === 201) created++;
          else errors++;
        }
      });
      await sleep(s * 1000);
      producing = false;
      await Promise.all(producers);
      await Promise.all(workers.map((w) => w.stop()));
      await Promise.all(conns.map((c) => c.close()));
      return { requests: created, errors, rps: created / s, p50: NaN, p99: NaN };
    };
  }
  await load(3); // warm-up
  const signal = () => Object.values(stack.apps).forEach((a) => a.child.kill('SIGWINCH'));
  signal();
  await sleep(200);
  const before = cpuSnapshot(stack);
  // nats-server's own profile over the same load (its Go profiler, on the port the bench stack gave it)
  const profPort = bench.nats?.state.profPort;
  const natsProfile = profPort
    ? fetch(`http://127.0.0.1:${profPort}/debug/pprof/profile?seconds=${SECONDS}`).then(async (res) => {
        if (!res.ok) throw new Error(`nats-server's profiler answered ${res.status}`);
        const file = join(OUT, 'nats-server.pprof');
        writeFileSync(file, Buffer.from(await res.arrayBuffer()));
        return file;
      })
    : Promise.resolve(undefined);
  const r = await load(SECONDS);
  const cpu = cpuPerRequest(before, cpuSnapshot(stack), r.requests);
  signal();
  const files = Object.keys(stack.apps).map((name) => [name, join(OUT, `${name}.cpuprofile`)]);
  for (let i = 0; i < 100 && !files.every(([, f]) => existsSync(f)); i++) await sleep(100);
  await sleep(300);
  // what compare.mjs needs to put two scenarios' profiles per request
  writeFileSync(join(OUT, 'run.json'), `${JSON.stringify({ scenario: SCENARIO, seconds: SECONDS, connections: C, requests: r.requests, errors: r.errors, cpuMsPerRequest: cpu })}\n`);
  const unit = SCENARIO === 'lifecycle' ? 'task' : 'request';
  // the lifecycle's latency is the lifecycle bench's to measure (create → completed, from the rows)
  const latency = Number.isNaN(r.p50) ? '' : `, p50 ${r.p50} ms, p99 ${r.p99} ms`;
  console.log(`profile ${SCENARIO}: ${r.rps.toFixed(0)} ${unit}s/s${latency}, errors ${r.errors}, ${C} connections, ${SECONDS} s`);
  console.log(`CPU per ${unit} (from /proc): ${formatCpu(cpu, r.rps, cpus().length)}`);
  for (const [name, f] of files) console.log(formatSummary(name, summarize(f), r.requests));
  const natsFile = await natsProfile.catch((err) => console.log(`nats-server: no profile (${err.message})`));
  if (natsFile) console.log(formatGoSummary('nats-server', summarizeGoProfile(natsFile), r.requests));
  console.log(`profiles: ${OUT} (open in Chrome DevTools › Performance, or speedscope)`);
} finally {
  await bench.stop();
}
process.exit(0);
