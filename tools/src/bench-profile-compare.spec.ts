import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Profile, StringTable } from 'pprof-format';
import { compareSelf, formatComparison, readProfileDir } from '../bench/profile/compare.mjs';

/** A V8 .cpuprofile: root → work (our app) → JSON.stringify-like native frame, and idle; `samples` name nodes. */
function cpuprofile(samples: Array<[number, number]>) {
  const frame = (functionName: string, url = '', lineNumber = -1) => ({ functionName, url, lineNumber, scriptId: '0', columnNumber: 0 });
  return {
    nodes: [
      { id: 1, callFrame: frame('(root)'), children: [2, 4] },
      { id: 2, callFrame: frame('createMany', 'file:///repo/apps/tasks/dist/tasks/tasks.repository.js', 385), children: [3] },
      { id: 3, callFrame: frame('writeBuffer'), children: [] },
      { id: 4, callFrame: frame('(idle)'), children: [] },
    ],
    startTime: 0,
    endTime: samples.reduce((s, [, dt]) => s + dt, 0),
    samples: samples.map(([id]) => id),
    // a sample's time is the delta to the next one (summarize.mjs): the first delta only places the first sample
    timeDeltas: [0, ...samples.slice(0, -1).map(([, dt]) => dt)],
  };
}

/** A Go CPU profile of two functions, `ns` each, one called from the other. */
function goProfile(ns: { parse: number; store: number }): Uint8Array {
  const strings = new StringTable();
  const s = (x: string) => strings.dedup(x);
  const p = new Profile({
    stringTable: strings,
    sampleType: [
      { type: s('samples'), unit: s('count') },
      { type: s('cpu'), unit: s('nanoseconds') },
    ],
    function: [
      { id: 1, name: s('github.com/nats-io/nats-server/server.(*client).parse') },
      { id: 2, name: s('github.com/nats-io/nats-server/server.(*fileStore).StoreMsg') },
    ],
    location: [
      { id: 1, line: [{ functionId: 1 }] },
      { id: 2, line: [{ functionId: 2 }] },
    ],
    sample: [
      { locationId: [1], value: [1, ns.parse] },
      { locationId: [2, 1], value: [1, ns.store] },
    ],
  });
  return p.encode();
}

describe('what one load costs beyond another, by function (tools/bench/profile/compare.mjs)', () => {
  it('puts each load per request and ranks functions by how much they grew', () => {
    const base = { micros: new Map([['a', 1000], ['b', 4000], ['gone', 500]]), requests: 100 };
    const other = { micros: new Map([['a', 3000], ['b', 2000], ['new', 150]]), requests: 50 };
    const c = compareSelf(base, other);
    expect(c.busy[0]).toBeCloseTo(55, 9); // (1000 + 4000 + 500) ÷ 100
    expect(c.busy[1]).toBeCloseTo(103, 9); // (3000 + 2000 + 150) ÷ 50
    expect(c.rows).toEqual([
      ['a', 10, 60, 50],
      ['new', 0, 3, 3],
      ['b', 40, 40, 0],
      ['gone', 5, 0, -5],
    ]);
    expect(compareSelf(base, other, 1).rows).toEqual([['a', 10, 60, 50]]);
    expect(formatComparison('tasks', c)).toContain('tasks: busy 55.0 → 103.0 µs/req (48.0 more)');
  });

  it('refuses a load without its request count', () => {
    const m = { micros: new Map([['a', 1]]), requests: 10 };
    expect(() => compareSelf(m, { ...m, requests: 0 })).toThrow('number of requests');
    expect(() => compareSelf({ ...m, requests: Number.NaN }, m)).toThrow('number of requests');
  });

  it('reads the directories profile.mjs writes: V8 profiles without idle time, and nats-server in µs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'profile-compare-'));
    try {
      writeFileSync(join(dir, 'run.json'), JSON.stringify({ scenario: 'create', requests: 40 }));
      // 300 µs in createMany, 200 in writeBuffer under it, 5,000 idle
      writeFileSync(join(dir, 'tasks.cpuprofile'), JSON.stringify(cpuprofile([[2, 100], [3, 200], [2, 200], [4, 5000]])));
      writeFileSync(join(dir, 'nats-server.pprof'), goProfile({ parse: 30_000, store: 90_000 }));
      const d = readProfileDir(dir);
      expect(d.requests).toBe(40);
      expect([...d.processes.keys()]).toEqual(['nats-server', 'tasks']);
      expect(Object.fromEntries(d.processes.get('tasks')!)).toEqual({ 'createMany apps/tasks:386': 300, 'writeBuffer (native)': 200 });
      expect(Object.fromEntries(d.processes.get('nats-server')!)).toEqual({ 'server.(*client).parse': 30, 'server.(*fileStore).StoreMsg': 90 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
