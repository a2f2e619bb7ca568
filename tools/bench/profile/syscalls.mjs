#!/usr/bin/env node
// How often each process enters the kernel per request, for the floor GET and for create, alternated in rounds
// (issue 19; tools/bench/syscalls.mjs): read and write system calls and voluntary context switches per request, by
// process. With --perf (Linux perf, as root), also the bench's nats-server's system calls per request by name, from
// `perf trace -s` during each round (perf slows the server, so the rates of those rounds are not the bench's).
// Needs the apps and tools built:  npx nx run-many -t build
//   node tools/bench/profile/syscalls.mjs [--seconds 4] [--rounds 2] [--connections 16] [--perf]
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { startBenchStack } from '../stack-under-test.mjs';
import { pidsOf } from '../cpu.mjs';
import { countersPerRequest, kernelCounters, parsePerfTraceSummary } from '../syscalls.mjs';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '16' },
    perf: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const C = Number(values.connections);
if (!(SECONDS > 0) || !(ROUNDS > 0) || !(C > 0)) throw new Error('--seconds, --rounds and --connections must be positive numbers');

/** `perf trace -s` on one process for `seconds`; resolves with its counts by syscall (summed over threads). */
function perfTrace(pid, seconds) {
  return new Promise((resolve, reject) => {
    const child = spawn('perf', ['trace', '-s', '-p', String(pid), '--', 'sleep', String(seconds)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let text = '';
    child.stderr.on('data', (d) => (text += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(parsePerfTraceSummary(text)) : reject(new Error(`perf trace exited ${code}: ${text.slice(-300)}`))));
  });
}

const bench = await startBenchStack({ callers: ['bench-worker'] });
try {
  const { stack } = bench;
  const loads = await bench.grantedTaskLoads({ agentName: 'syscalls-agent', connections: C });
  await loads.floor(2); // warm-up
  await loads.create(2);

  const natsPid = bench.nats?.child.pid;
  const groups = () => ({
    ...Object.fromEntries(Object.entries(stack.apps).map(([name, a]) => [name, [String(a.child.pid)]])),
    postgres: pidsOf('postgres'),
    'nats-server': natsPid ? [String(natsPid)] : pidsOf('nats-server'),
    'load generator': [String(process.pid)],
  });
  const snapshot = () => Object.fromEntries(Object.entries(groups()).map(([g, pids]) => [g, new Map(pids.map((p) => [p, kernelCounters(p)]))]));
  const f = (v) => v.toFixed(2);
  console.log(`syscalls: ${C} connections, ${ROUNDS} rounds × ${SECONDS} s per load; per request: read calls / write calls / voluntary context switches`);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const scenario of ['floor', 'create']) {
      const traced = values.perf && natsPid ? perfTrace(natsPid, SECONDS + 0.5) : undefined;
      const before = snapshot();
      const r = await loads[scenario](SECONDS);
      const after = snapshot();
      const n = r.requests.total;
      const byProcess = Object.keys(after).map((g) => {
        const c = countersPerRequest(before[g], after[g], n);
        return `${g} ${f(c.reads)} / ${f(c.writes)} / ${f(c.switches)}`;
      });
      console.log(`${scenario} (round ${round}): ${Math.round(r.requests.average)} req/s, errors ${r.errors + r.non2xx + r.timeouts}; ${byProcess.join('; ')}`);
      if (traced) {
        const counts = await traced;
        const top = Object.entries(counts)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 8)
          .map(([name, calls]) => `${name} ${(calls / n).toFixed(3)}`);
        console.log(`  nats-server's system calls per request (perf trace, the load slowed by it): ${top.join(', ')}`);
      }
    }
  }
} finally {
  await bench.stop();
}
