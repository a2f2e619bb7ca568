// Reads a V8 .cpuprofile and says where the CPU went: self time by package (node_modules/<pkg>, our libs and apps,
// Node's core modules, V8's own buckets: GC, program) and the top functions by self time. Idle time is left out:
// the percentages are of the time the process was busy.
import { readFileSync } from 'node:fs';

/** Which bucket a frame's code belongs to. */
export function packageOf(url, functionName) {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return `node:${url.slice(5).replace(/^internal\//, '').split('/')[0]}`;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 14).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const m = /\/(libs|apps)\/([^/]+)\//.exec(url);
  if (m) return m[1] === 'libs' ? `@agentplane/${m[2]}` : `apps/${m[2]}`;
  return url.split('/').slice(-2).join('/');
}

function selfTimes(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, { node: n, us: 0 }]));
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    const next = timeDeltas[i + 1] ?? 0; // the time until the next sample is spent where this one landed
    byId.get(samples[i]).us += next;
  }
  return [...byId.values()];
}

/** A frame's label in every summary: `function package:line` (line 1-based; no line for native code). */
function labelOf({ functionName, url, lineNumber }) {
  return `${functionName || '(anonymous)'} ${packageOf(url, functionName)}${url ? `:${lineNumber + 1}` : ''}`;
}

/** The busy time (µs) of a parsed .cpuprofile by function label (labelOf), idle left out. */
export function selfMicros(profile) {
  const fns = new Map();
  for (const { node, us } of selfTimes(profile)) {
    if (us === 0 || node.callFrame.functionName === '(idle)') continue;
    const label = labelOf(node.callFrame);
    fns.set(label, (fns.get(label) ?? 0) + us);
  }
  return fns;
}

/** { busyMs, packages: [[name, ms, pct]], functions: [[label, ms, pct]] } */
export function summarize(file, top = 15) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const entries = selfTimes(profile).filter((e) => e.node.callFrame.functionName !== '(idle)');
  const busy = entries.reduce((a, e) => a + e.us, 0);
  const pkgs = new Map();
  for (const { node, us } of entries) {
    const pkg = packageOf(node.callFrame.url, node.callFrame.functionName);
    pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + us);
  }
  const rank = (m) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => [k, us / 1000, (100 * us) / busy]);
  return { busyMs: busy / 1000, packages: rank(pkgs), functions: rank(selfMicros(profile)) };
}

/** Markdown-ish text for one process: busy ms per request, then packages and functions with their share. */
export function formatSummary(name, s, requests, top = 12) {
  const perReq = (ms) => (requests ? ` (${((ms * 1000) / requests).toFixed(0)} µs/req)` : '');
  const lines = [`${name}: busy ${s.busyMs.toFixed(0)} ms${perReq(s.busyMs)}`];
  lines.push(`  by package: ${s.packages.slice(0, top).map(([k, , p]) => `${k} ${p.toFixed(1)}%`).join(', ')}`);
  lines.push('  top functions (self):');
  for (const [k, , p] of s.functions.slice(0, top)) lines.push(`    ${p.toFixed(1).padStart(5)}%  ${k}`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const f of process.argv.slice(2)) console.log(formatSummary(f, summarize(f)));
}
