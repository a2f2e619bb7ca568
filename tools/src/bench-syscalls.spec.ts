import { countersPerRequest, parsePerfTraceSummary, parseProcIo, parseVoluntarySwitches } from '../bench/syscalls.mjs';

describe('kernel entries per request (tools/bench/syscalls.mjs)', () => {
  it('reads the read and write calls of /proc/<pid>/io and the voluntary switches of a thread status', () => {
    const io = 'rchar: 9123\nwchar: 8123\nsyscr: 1411\nsyscw: 2920\nread_bytes: 0\nwrite_bytes: 4096\ncancelled_write_bytes: 0\n';
    expect(parseProcIo(io)).toEqual({ reads: 1411, writes: 2920 });
    expect(() => parseProcIo('rchar: 1\n')).toThrow('syscr');
    const status = 'Name:\tnats-server\nvoluntary_ctxt_switches:\t5120\nnonvoluntary_ctxt_switches:\t33\n';
    expect(parseVoluntarySwitches(status)).toBe(5120);
    expect(() => parseVoluntarySwitches('Name:\tx\n')).toThrow();
  });

  it('counts per request only the processes alive at both ends', () => {
    const before = new Map([
      ['1', { reads: 10, writes: 20, switches: 5 }],
      ['2', { reads: 100, writes: 100, switches: 100 }],
    ]);
    const after = new Map([
      ['1', { reads: 30, writes: 60, switches: 9 }],
      ['2', undefined], // gone meanwhile
      ['3', { reads: 999, writes: 999, switches: 999 }], // started meanwhile
    ]);
    expect(countersPerRequest(before, after, 4)).toEqual({ reads: 5, writes: 10, switches: 1 });
  });

  it("adds up a perf trace summary's calls by system call over its threads", () => {
    const text = [
      '',
      ' Summary of events:',
      '',
      ' nats-server (8704), 10000 events, 40.1%',
      '',
      '   syscall            calls  errors  total       min       avg       max       stddev',
      '                                     (msec)    (msec)    (msec)    (msec)        (%)',
      '   --------------- --------  ------ -------- --------- --------- ---------     ------',
      '   pwrite64            2920      0    83.456     0.011     0.029     3.508     12.03%',
      '   read                1411    567    22.549     0.010     0.016     0.181      1.58%',
      '',
      ' nats-server (8705), 3000 events, 12.0%',
      '   pwrite64            1223      0    32.406     0.011     0.026     3.901     16.78%',
      '   writev               506      0    10.236     0.011     0.020     0.093      2.06%',
    ].join('\n');
    expect(parsePerfTraceSummary(text)).toEqual({ pwrite64: 4143, read: 1411, writev: 506 });
  });
});
