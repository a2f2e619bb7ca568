import { TASK_CREATED_CODEC, newTaskRowAsWritten, retryDelayMs, toTask, type NewTaskRow } from './task.js';

describe('retryDelayMs: exponential backoff with full jitter, capped', () => {
  const policy = { retryInitialIntervalMs: 1_000, retryBackoffCoefficient: 2, retryMaximumIntervalMs: 60_000 };

  it('draws uniformly below initial × coefficient^(attempt-1)', () => {
    expect(retryDelayMs(policy, 1, () => 0.999)).toBe(999);
    expect(retryDelayMs(policy, 2, () => 0.999)).toBe(1_998);
    expect(retryDelayMs(policy, 4, () => 0.5)).toBe(4_000);
    expect(retryDelayMs(policy, 3, () => 0)).toBe(0);
  });

  it('never exceeds the maximum interval, however many attempts', () => {
    expect(retryDelayMs(policy, 7, () => 0.999)).toBe(59_940);
    expect(retryDelayMs(policy, 100, () => 0.999)).toBe(59_940);
    for (let i = 0; i < 1_000; i++) expect(retryDelayMs(policy, 1 + (i % 30))).toBeLessThan(60_000);
  });
});

describe('TASK_CREATED_CODEC: a keyed create\'s stored response', () => {
  const base: NewTaskRow = {
    id: '0193a8a0-0000-7000-8000-000000000001',
    tenantId: 'acme',
    agentId: '0193a8a0-0000-7000-8000-0000000000a1',
    name: 'nightly',
    params: {},
    creatorUserId: 'alice',
    creatorServiceAccountId: null,
    priority: 0,
    maxAttempts: 3,
    runAfter: new Date('2026-12-06T01:02:03.004Z'),
    heartbeatTimeoutSeconds: 60,
    timeoutSeconds: 3600,
    retryInitialIntervalMs: 1_000,
    retryBackoffCoefficient: 2,
    retryMaximumIntervalMs: 60_000,
    createdAt: new Date('2026-12-06T01:02:03.004Z'),
  };
  /** Through JSON, as the database keeps it. */
  const stored = (row: NewTaskRow) => JSON.parse(JSON.stringify(TASK_CREATED_CODEC.pack(row))) as unknown;

  it('unpacks to the task the create answered, for every kind of creator and every field set', () => {
    const rows: NewTaskRow[] = [
      base,
      { ...base, creatorUserId: null, creatorServiceAccountId: 'ci-bot' },
      { ...base, creatorUserId: null },
      {
        ...base,
        name: 'ünïcode "quoted" \\ name',
        params: { nested: { list: [1, 'two', null, { x: true }] }, n: 1.25 },
        priority: -5,
        maxAttempts: 1,
        runAfter: new Date('2031-01-01T00:00:00.000Z'),
        heartbeatTimeoutSeconds: 5,
        timeoutSeconds: 86_400,
        retryInitialIntervalMs: 10,
        retryBackoffCoefficient: 1.5,
        retryMaximumIntervalMs: 20,
      },
    ];
    for (const row of rows) expect(TASK_CREATED_CODEC.unpack(stored(row))).toEqual(toTask(newTaskRowAsWritten(row)));
  });

  it('refuses a value it did not pack', () => {
    const good = stored(base) as unknown[];
    for (const bad of [null, {}, good.slice(0, 15), [...good, 'extra'], good.map((v, i) => (i === 8 ? 'high' : v)), good.map((v, i) => (i === 7 ? 'yesterday' : v))]) {
      expect(() => TASK_CREATED_CODEC.unpack(bad)).toThrow();
    }
  });
});
