import { describe, expect, it } from 'vitest';
import { NAME_MAX, rerunName, rerunRequest } from '../api/rerun.js';

/** What the contract's Name asks of the offered name that the cut could break. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const acceptable = (s: string) => s.length >= 1 && s.length <= NAME_MAX && s.trimEnd() === s && !LONE_SURROGATE.test(s) && s.normalize('NFC') === s;

describe('rerunName', () => {
  it('is the task name with a rerun suffix', () => {
    expect(rerunName('nightly-report', 'a1b2c3')).toBe('nightly-report-rerun-a1b2c3');
  });

  it('stays within 200 code units for a long name, keeping the suffix', () => {
    const name = rerunName('x'.repeat(200), 'a1b2c3');
    expect(name).toHaveLength(NAME_MAX);
    expect(name.endsWith('-rerun-a1b2c3')).toBe(true);
    expect(acceptable(name)).toBe(true);
  });

  it('never cuts inside a surrogate pair, and leaves no white space before the suffix', () => {
    const tail = '-rerun-a1b2c3'.length;
    // an astral character (two code units) straddling the cut
    const astral = rerunName(`${'y'.repeat(NAME_MAX - tail - 1)}😀rest`, 'a1b2c3');
    expect(acceptable(astral)).toBe(true);
    expect(astral).toBe(`${'y'.repeat(NAME_MAX - tail - 1)}-rerun-a1b2c3`);
    const spaced = rerunName(`${'z'.repeat(NAME_MAX - tail - 1)} tail`, 'a1b2c3');
    expect(spaced).toBe(`${'z'.repeat(NAME_MAX - tail - 1)}-rerun-a1b2c3`);
  });

  it('keeps a name in NFC when the cut falls after a composed character', () => {
    const name = rerunName(`${'é'.repeat(300)}`, 'a1b2c3');
    expect(acceptable(name)).toBe(true);
  });
});

describe('rerunRequest', () => {
  it('copies what defines the work, not its schedule, state or results', () => {
    const task = {
      id: '01a24d7c-0000-7000-8000-000000000001',
      tenantId: 'acme',
      agentId: '01a24d7c-0000-7000-8000-000000000002',
      name: 'resize',
      status: 'failed' as const,
      params: { bucket: 'imgs', sizes: [64, 128] },
      result: null,
      creatorUserId: 'alice',
      creatorServiceAccountId: null,
      createdAt: '2026-12-06T12:00:00.000Z',
      updatedAt: '2026-12-06T12:01:00.000Z',
      priority: 5,
      attempt: 3,
      maxAttempts: 3,
      runAfter: '2026-12-07T00:00:00.000Z',
      leaseExpiresAt: null,
      workerId: 'w-1',
      startedAt: '2026-12-06T12:00:01.000Z',
      finishedAt: '2026-12-06T12:01:00.000Z',
      cancelRequested: false,
      progress: { pct: 90 },
      error: { message: 'boom' },
      heartbeatTimeoutSeconds: 30,
      timeoutSeconds: 600,
      retry: { initialIntervalMs: 500, backoffCoefficient: 3, maximumIntervalMs: 10_000 },
    };
    expect(rerunRequest(task, 'resize-rerun-1')).toEqual({
      agentId: task.agentId,
      name: 'resize-rerun-1',
      params: { bucket: 'imgs', sizes: [64, 128] },
      priority: 5,
      maxAttempts: 3,
      heartbeatTimeoutSeconds: 30,
      timeoutSeconds: 600,
      retry: { initialIntervalMs: 500, backoffCoefficient: 3, maximumIntervalMs: 10_000 },
    });
  });
});

describe('randomId', () => {
  it('is a v4 UUID, also where crypto.randomUUID is missing (plain http off localhost)', async () => {
    const { randomId } = await import('../api/ids.js');
    const v4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    const insecure = { getRandomValues: <T extends ArrayBufferView | null>(a: T) => crypto.getRandomValues(a as Uint8Array) as unknown as T };
    const ids = Array.from({ length: 50 }, () => randomId(insecure));
    for (const id of ids) expect(id).toMatch(v4);
    expect(new Set(ids).size).toBe(50);
    expect(randomId()).toMatch(v4);
  });
});
