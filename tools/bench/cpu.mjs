// Where the CPU of a load went, read from /proc (Linux): ms per request by process — the stack's apps, PostgreSQL's
// processes, the NATS server and this process (the load generator). Shared by the benchmarks.
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** CPU a process has used (utime + stime from /proc, in clock ticks of 10 ms); 0 once it is gone. */
export function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}
/** pids of every process whose command is `comm` (PostgreSQL's backends, the NATS server). */
export function pidsOf(comm) {
  const out = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() === comm) out.push(p);
    } catch {
      /* gone */
    }
  }
  return out;
}
/** pid → ticks of every process whose command is `comm`. */
function ticksOf(comm) {
  return new Map(pidsOf(comm).map((p) => [p, cpuTicks(p)]));
}
/**
 * The whole machine's CPU time so far, from /proc/stat's first line, in clock ticks: busy (user, nice, system, irq,
 * softirq), idle, iowait (idle with a disk request outstanding) and steal (time the hypervisor gave another guest while
 * this one wanted to run).
 */
export function machineTicks() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    return { busy: f[0] + f[1] + f[2] + f[5] + f[6], idle: f[3], iowait: f[4], steal: f[7] ?? 0 };
  } catch {
    return undefined;
  }
}

/** ms per request summed over the processes of cpuPerRequest's answer. */
const cpuTotal = (cpu) => Object.values(cpu ?? {}).reduce((a, b) => a + b, 0);

/** Where the CPU of the load went: ms per request by process (apps, PostgreSQL, NATS, the load generator). */
export function cpuSnapshot(stack) {
  return {
    machine: machineTicks(),
    apps: Object.fromEntries(Object.entries(stack.apps).map(([name, a]) => [name, cpuTicks(a.child.pid)])),
    postgres: ticksOf('postgres'),
    nats: ticksOf('nats-server'),
    self: process.cpuUsage(),
  };
}
export function cpuPerRequest(before, after, requests) {
  const ms = (ticks) => (ticks * 10) / requests;
  const sum = (a, b) => [...b].reduce((acc, [pid, t]) => acc + (a.has(pid) ? t - a.get(pid) : 0), 0); // pids alive throughout
  const out = {};
  for (const name of Object.keys(before.apps)) out[name] = ms(after.apps[name] - before.apps[name]);
  out.postgres = ms(sum(before.postgres, after.postgres));
  out['nats-server'] = ms(sum(before.nats, after.nats));
  const self = process.cpuUsage(before.self);
  out['load generator'] = (self.user + self.system) / 1000 / requests;
  return out;
}

/**
 * PostgreSQL's share of a load split by who spent it: each client backend under its database's name, the others
 * (walwriter, checkpointer, autovacuum workers, …) under their backend type. `pgUrl` is any database of the server.
 */
export async function postgresBreakdown(before, after, requests, pgUrl) {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: pgUrl });
  await c.connect();
  try {
    const { rows } = await c.query(`SELECT pid::text, datname, backend_type FROM pg_stat_activity`);
    // a test database's name (ap_<service>_<hex>_test) as its service's: `tasks db`
    const dbName = (d) => (d ?? '?').replace(/^ap_(.+)_[0-9a-f]+_test$/, (_, svc) => `${svc.replace(/_/g, '-')} db`);
    const label = new Map(rows.map((r) => [r.pid, r.backend_type === 'client backend' ? dbName(r.datname) : r.backend_type]));
    const out = {};
    for (const [pid, t] of after.postgres) {
      if (!before.postgres.has(pid)) continue;
      const name = label.get(pid) ?? 'gone or unlisted';
      out[name] = (out[name] ?? 0) + ((t - before.postgres.get(pid)) * 10) / requests;
    }
    return Object.fromEntries(Object.entries(out).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]));
  } finally {
    await c.end();
  }
}

/**
 * What the machine's cores did during a load, in cores: the stack under test and the load generator (`cpu`, ms per
 * request from cpuPerRequest, times `requests`), other processes, time stolen by the hypervisor, idle waiting on the
 * disk, and idle. A load that got fewer cores than another (stolen, or taken by other work) is slower for reasons
 * outside the code: ratios between loads measured seconds apart are comparable only where these agree. Undefined
 * where /proc/stat cannot be read.
 */
export function machineCores(before, after, cpu, requests) {
  if (!before.machine || !after.machine) return undefined;
  const d = (k) => after.machine[k] - before.machine[k];
  const ticks = d('busy') + d('idle') + d('iowait') + d('steal');
  if (ticks <= 0) return undefined;
  const cores = cpus().length;
  const share = (t) => Number(((Math.max(0, t) / ticks) * cores).toFixed(2));
  const stackTicks = (cpuTotal(cpu) * requests) / 10;
  return { stack: share(stackTicks), others: share(d('busy') - stackTicks), steal: share(d('steal')), iowait: share(d('iowait')), idle: share(d('idle')), of: cores };
}

/** One line: `the stack and its load 1.62, other processes 0.05, stolen by the hypervisor 0.21, iowait 0.02, idle 0.10 (of 2 cores)`. */
export function formatMachine(m) {
  if (!m) return 'unknown (no /proc/stat)';
  return `the stack and its load ${m.stack.toFixed(2)}, other processes ${m.others.toFixed(2)}, stolen by the hypervisor ${m.steal.toFixed(2)}, iowait ${m.iowait.toFixed(2)}, idle ${m.idle.toFixed(2)} (of ${m.of} cores)`;
}

/**
 * A ratio of two loads' req/s (create ÷ floor) as the product of its two factors. Each load's req/s is the cores its
 * processes kept busy (the stack and the load generator) divided by their CPU per request, so
 *   create ÷ floor = (a floor request's CPU ÷ a create's) × (cores busy during creates ÷ during the floor's load),
 * exactly. The first factor is what the code costs; the second is time the cores stood idle during one load and not
 * the other (a create waiting for its commit's WAL flush, which a read never does). `cpu` is ms per request by
 * process, as cpuPerRequest gives it. Undefined where either load has no CPU or no req/s.
 */
export function ratioFactors(floor, create) {
  const f = cpuTotal(floor.cpu);
  const c = cpuTotal(create.cpu);
  if (!(f > 0 && c > 0 && floor.rps > 0 && create.rps > 0)) return undefined;
  return { cpu: f / c, cores: (c * create.rps) / (f * floor.rps) };
}

/** One line: `name 1.23 ms, …; total 4.56 ms (at 300 req/s: 1.37 of 2 cores)`. */
export function formatCpu(cpu, rps, cores) {
  const total = cpuTotal(cpu);
  return `${Object.entries(cpu).map(([k, v]) => `${k} ${v.toFixed(2)} ms`).join(', ')}; total ${total.toFixed(2)} ms (at ${rps.toFixed(0)} req/s: ${((total * rps) / 1000).toFixed(2)} of ${cores} cores)`;
}
