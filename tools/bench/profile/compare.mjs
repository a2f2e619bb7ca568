#!/usr/bin/env node
// What one load costs beyond another, function by function and process by process (issue 19: what a create costs
// beyond a floor GET). Reads two directories written by profile.mjs (each holds run.json with its request count and
// the processes' profiles), turns every function's self time into µs per request in each, and prints the functions
// whose cost grew the most. A sampling profiler slows the process it samples, and overstates short, frequent frames
// (round 23 measured one set about four times over): read the ranking, not the absolute figures.
//   node tools/bench/profile/profile.mjs --scenario floor --out DIR
//   node tools/bench/profile/profile.mjs --scenario create --out DIR
//   node tools/bench/profile/compare.mjs DIR/floor DIR/create [--top 15]
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { selfMicros } from './summarize.mjs';
import { goCpuByFunction } from './go-profile.mjs';

/**
 * Self time by function (µs) of two loads, each over its request count, as µs per request: `busy` for each load,
 * and `rows` ([function, base µs/req, other µs/req, growth]), the largest growth first, `top` of them.
 */
export function compareSelf(base, other, top = 15) {
  if (!(base.requests > 0) || !(other.requests > 0)) throw new Error('each load needs its number of requests');
  const per = (m, n) => new Map([...m].map(([f, us]) => [f, us / n]));
  const a = per(base.micros, base.requests);
  const b = per(other.micros, other.requests);
  const sum = (m) => [...m.values()].reduce((s, v) => s + v, 0);
  const rows = [...new Set([...a.keys(), ...b.keys()])]
    .map((f) => [f, a.get(f) ?? 0, b.get(f) ?? 0, (b.get(f) ?? 0) - (a.get(f) ?? 0)])
    .sort((p, q) => q[3] - p[3] || String(p[0]).localeCompare(String(q[0])))
    .slice(0, top);
  return { busy: [sum(a), sum(b)], rows };
}

export function formatComparison(name, c) {
  const n = (v) => v.toFixed(1).padStart(7);
  const lines = [`${name}: busy ${c.busy[0].toFixed(1)} → ${c.busy[1].toFixed(1)} µs/req (${(c.busy[1] - c.busy[0]).toFixed(1)} more)`];
  lines.push(`  ${'more'.padStart(7)} ${'base'.padStart(7)} ${'other'.padStart(7)}  µs/req, self time, by function`);
  for (const [f, x, y, d] of c.rows) lines.push(`  ${n(d)} ${n(x)} ${n(y)}  ${f}`);
  return lines.join('\n');
}

/** A profile.mjs directory: its request count and, per process, self µs by function (nats-server's from Go's ns). */
export function readProfileDir(dir) {
  const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
  const processes = new Map();
  for (const f of readdirSync(dir).sort()) {
    if (f.endsWith('.cpuprofile')) processes.set(f.slice(0, -'.cpuprofile'.length), selfMicros(JSON.parse(readFileSync(join(dir, f), 'utf8'))));
    if (f.endsWith('.pprof')) {
      const { self } = goCpuByFunction(readFileSync(join(dir, f)));
      processes.set(f.slice(0, -'.pprof'.length), new Map([...self].map(([fn, ns]) => [fn, ns / 1000])));
    }
  }
  return { requests: run.requests, processes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '15' } } });
  if (positionals.length !== 2 || !positionals.every((d) => existsSync(join(d, 'run.json')))) {
    console.error('usage: compare.mjs BASE_DIR OTHER_DIR [--top N]  (directories written by profile.mjs, with run.json)');
    process.exit(2);
  }
  const [base, other] = positionals.map(readProfileDir);
  console.log(`${positionals[1]} beyond ${positionals[0]} (${other.requests} and ${base.requests} requests profiled)`);
  for (const [name, micros] of other.processes) {
    const b = base.processes.get(name);
    if (!b) continue;
    console.log(formatComparison(name, compareSelf({ micros: b, requests: base.requests }, { micros, requests: other.requests }, Number(values.top))));
  }
}
