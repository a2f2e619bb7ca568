// Where the CPU of a load went, read from /proc (Linux): ms per request by process — the stack's apps, PostgreSQL's
// processes, the NATS server and this process (the load generator). Shared by the benchmarks.
import { readdirSync, readFileSync } from 'node:fs';

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
/** pid → ticks of every process whose command is `comm` (PostgreSQL's backends, the NATS server). */
function ticksOf(comm) {
  const out = new Map();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() === comm) out.set(p, cpuTicks(p));
    } catch {
      /* gone */
    }
  }
  return out;
}
/** Where the CPU of the load went: ms per request by process (apps, PostgreSQL, NATS, the load generator). */
export function cpuSnapshot(stack) {
  return {
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

/** One line: `name 1.23 ms, …; total 4.56 ms (at 300 req/s: 1.37 of 2 cores)`. */
export function formatCpu(cpu, rps, cores) {
  const total = Object.values(cpu).reduce((a, b) => a + b, 0);
  return `${Object.entries(cpu).map(([k, v]) => `${k} ${v.toFixed(2)} ms`).join(', ')}; total ${total.toFixed(2)} ms (at ${rps.toFixed(0)} req/s: ${((total * rps) / 1000).toFixed(2)} of ${cores} cores)`;
}
