// How often each process of the stack enters the kernel per request (issue 19): read and write system calls from
// /proc/<pid>/io and voluntary context switches (the process waited: a wake-up) from each thread's
// /proc/<pid>/task/<tid>/status. Counts, not time: what a request's socket writes and wake-ups are, hop by hop.
// Shared by tools/bench/profile/syscalls.mjs and its test.
import { readdirSync, readFileSync } from 'node:fs';

/** `syscr`/`syscw` of a /proc/<pid>/io text (read/write-family calls that go through the VFS: not recv/send). */
export function parseProcIo(text) {
  const num = (name) => {
    const m = new RegExp(`^${name}:\\s*(\\d+)$`, 'm').exec(text);
    if (!m) throw new Error(`/proc io text without ${name}`);
    return Number(m[1]);
  };
  return { reads: num('syscr'), writes: num('syscw') };
}

/** `voluntary_ctxt_switches` of a /proc/<pid>/task/<tid>/status text. */
export function parseVoluntarySwitches(text) {
  const m = /^voluntary_ctxt_switches:\s*(\d+)$/m.exec(text);
  if (!m) throw new Error('/proc status text without voluntary_ctxt_switches');
  return Number(m[1]);
}

/** A process's counters so far; undefined once it is gone (or unreadable). */
export function kernelCounters(pid) {
  try {
    const io = parseProcIo(readFileSync(`/proc/${pid}/io`, 'utf8'));
    let switches = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        switches += parseVoluntarySwitches(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
      } catch {
        /* a thread that ended between the listing and the read */
      }
    }
    return { ...io, switches };
  } catch {
    return undefined;
  }
}

/** Per request, what the processes of `after` did since `before` (maps of pid → counters); pids alive throughout. */
export function countersPerRequest(before, after, requests) {
  const sum = { reads: 0, writes: 0, switches: 0 };
  for (const [pid, end] of after) {
    const start = before.get(pid);
    if (!start || !end) continue;
    for (const k of Object.keys(sum)) sum[k] += end[k] - start[k];
  }
  return Object.fromEntries(Object.entries(sum).map(([k, v]) => [k, v / requests]));
}

/**
 * The per-syscall counts of a `perf trace -s` summary, added up over its threads: `{ pwrite64: 1234, ... }`. Its
 * lines look like `   pwrite64     2920      0    83.456 ...` (syscall, calls, errors, total ms, ...).
 */
export function parsePerfTraceSummary(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^\s+([a-z_][a-z0-9_]*)\s+(\d+)\s+\d+\s+[\d.]+\s/.exec(line);
    if (m) out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
  }
  return out;
}
