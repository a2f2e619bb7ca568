// Reads a Go CPU profile (pprof's protobuf, as nats-server's `prof_port` serves it at /debug/pprof/profile) and says
// where nats-server's CPU went: the top functions by self time and by cumulative time (a function and everything it
// called), in percent of the samples. Decoded with `pprof-format`: no Go toolchain needed.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';

const shortName = (f) => f.replace('github.com/nats-io/nats-server/', '');

/**
 * A Go CPU profile (pprof's protobuf, gzipped or not) as CPU time (ns) by function: `self` where each sample landed,
 * `cumulative` for every function on its stack; `total` over all samples.
 */
export function goCpuByFunction(buf) {
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf);
  const p = Profile.decode(buf);
  const str = (i) => p.stringTable.strings[Number(i)];
  const fnName = new Map(p.function.map((f) => [String(f.id), shortName(str(f.name))]));
  const frames = new Map(p.location.map((l) => [String(l.id), l.line.map((ln) => fnName.get(String(ln.functionId)))]));
  const cpu = p.sampleType.findIndex((t) => str(t.type) === 'cpu');
  const self = new Map();
  const cumulative = new Map();
  let total = 0;
  for (const s of p.sample) {
    const v = Number(s.value[cpu]);
    total += v;
    const stack = s.locationId.flatMap((id) => frames.get(String(id)) ?? []);
    if (stack.length === 0) continue;
    self.set(stack[0], (self.get(stack[0]) ?? 0) + v);
    for (const f of new Set(stack)) cumulative.set(f, (cumulative.get(f) ?? 0) + v);
  }
  return { self, cumulative, total };
}

/** { cpuMs, self: [[function, pct]], cumulative: [[function, pct]] } */
export function summarizeGoProfile(file, top = 12) {
  const { self, cumulative, total } = goCpuByFunction(readFileSync(file));
  const rank = (m) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([f, v]) => [f, total ? (100 * v) / total : 0]);
  return { cpuMs: total / 1e6, self: rank(self), cumulative: rank(cumulative) };
}

export function formatGoSummary(name, s, requests) {
  const lines = [`${name}: ${s.cpuMs.toFixed(0)} ms of CPU sampled (${((s.cpuMs * 1000) / Math.max(1, requests)).toFixed(0)} µs/req)`];
  lines.push('  top functions (self):');
  for (const [f, pct] of s.self) lines.push(`    ${pct.toFixed(1).padStart(5)}%  ${f}`);
  lines.push('  top functions (cumulative):');
  for (const [f, pct] of s.cumulative) lines.push(`    ${pct.toFixed(1).padStart(5)}%  ${f}`);
  return lines.join('\n');
}
