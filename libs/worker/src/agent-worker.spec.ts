import type { NatsConnection } from '@nats-io/transport-node';
import { tasksContract, TASK_LIMITS, type ClaimedTask } from '@agentplane/contracts';
import { AgentWorker, NonRetryableError, TasksCallError, heartbeatIntervalMs, toTaskError, type AgentWorkerOptions } from './agent-worker.js';
import { CLAIM_MAX, WORKER_ERROR_TYPES, checkResult, storableText } from './report.js';

const ID = '00000000-0000-4000-8000-000000000001';
const TOKEN = '00000000-0000-4000-8000-000000000002';
/** What the service would read of a fail request carrying `error` (the contract's own schema, after JSON). */
const failParse = (error: unknown) => tasksContract.fail.request.safeParse({ id: ID, leaseToken: TOKEN, error: JSON.parse(JSON.stringify(error)) });
const jsonBytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v), 'utf8');

describe('AgentWorker helpers', () => {
  it('heartbeats at a fraction of the heartbeat timeout, never more often than every 500 ms', () => {
    expect(heartbeatIntervalMs({ heartbeatTimeoutSeconds: 60 })).toBe(20_000);
    expect(heartbeatIntervalMs({ heartbeatTimeoutSeconds: 60 }, 0.5)).toBe(30_000);
    expect(heartbeatIntervalMs({ heartbeatTimeoutSeconds: 5 }, 0.01)).toBe(500);
    // a fraction near 1 would let the lease lapse between beats: capped at 0.9
    expect(heartbeatIntervalMs({ heartbeatTimeoutSeconds: 10 }, 2)).toBe(9_000);
    // NaN would be setInterval's 1 ms: the default
    expect(heartbeatIntervalMs({ heartbeatTimeoutSeconds: 60 }, NaN)).toBe(20_000);
  });

  it('turns a thrown value into the fail call\'s error: retryable unless NonRetryableError', () => {
    expect(toTaskError(new TypeError('bad'))).toEqual({ message: 'bad', type: 'TypeError', retryable: true });
    expect(toTaskError(new NonRetryableError('no', { field: 'x' }))).toEqual({ message: 'no', type: 'NonRetryableError', retryable: false, details: { field: 'x' } });
    expect(toTaskError('plain')).toEqual({ message: 'plain', type: 'string', retryable: true });
  });

  it('recognises lease_lost answers, and NOT_FOUND and FORBIDDEN as gone', () => {
    expect(new TasksCallError('CONFLICT', 'x', { reason: 'lease_lost' }).leaseLost).toBe(true);
    expect(new TasksCallError('CONFLICT', 'x', { field: 'name' }).leaseLost).toBe(false);
    expect(['NOT_FOUND', 'FORBIDDEN', 'CONFLICT', 'UNAVAILABLE'].map((code) => new TasksCallError(code, 'x').gone)).toEqual([true, true, false, false]);
  });
});

describe('toTaskError: always an error the fail contract takes', () => {
  const emoji = '😀';
  class Named extends Error {
    constructor(name: string) {
      super('named');
      this.name = name;
    }
  }
  const circular: Record<string, unknown> = { a: 1 };
  circular.self = circular;
  let deep: Record<string, unknown> = {};
  for (let i = 0; i < 100; i++) deep = { d: deep };
  const throwingMessage = new Error('x');
  Object.defineProperty(throwingMessage, 'message', { get: () => { throw new Error('no message for you'); } });
  const awkward: Array<[string, unknown]> = [
    ['an emoji cut in half at 4,000 units', new NonRetryableError('x'.repeat(3_999) + emoji + ' tail')],
    ['4,000 emoji and more', new Error(emoji.repeat(5_000))],
    ['a NUL', new NonRetryableError('bad byte \u0000 in input')],
    ['unpaired surrogates', new Error('\ud800 lone high, lone low \udc00, reversed \udc00\ud800')],
    ['4,000 control characters (24 KB escaped)', new Error('\u0001'.repeat(4_000))],
    ['4,000 quotes and backslashes', new Error('"\\'.repeat(2_000))],
    ['a megabyte of text', new Error('y'.repeat(1_000_000))],
    ['an empty name', new Named('')],
    ['a name of 300 emoji with a NUL', new Named('\u0000' + emoji.repeat(300))],
    ['a name of control characters', new Named('\u0001'.repeat(500))],
    ['an empty message', new Error('')],
    ['details over the limit', new NonRetryableError('big', { blob: 'z'.repeat(TASK_LIMITS.errorBytes) })],
    ['details just fitting beside a long message', new NonRetryableError('m'.repeat(4_000), { blob: 'z'.repeat(10_000) })],
    ['details with a BigInt', new NonRetryableError('bigint', { n: 1n as unknown })],
    ['circular details', new NonRetryableError('circular', circular)],
    ['details nested too deeply', new NonRetryableError('deep', deep)],
    ['details with a NUL key and value', new NonRetryableError('nul', { 'a\u0000': 'b\u0000' })],
    ['details that are an array', new NonRetryableError('array', [1, 2] as unknown as Record<string, unknown>)],
    ['details with toJSON', new NonRetryableError('toJSON', { toJSON: () => 'not an object' })],
    ['a message getter that throws', throwingMessage],
    ['undefined', undefined],
    ['null', null],
    ['a symbol', Symbol('s')],
    ['an object without a prototype', Object.create(null)],
    ['a plain object with a message', { message: 'from an object\u0000' }],
  ];

  it.each(awkward)('%s', (_label, thrown) => {
    const error = toTaskError(thrown);
    const parsed = failParse(error);
    expect(parsed.error?.issues ?? []).toEqual([]);
    expect(error.retryable).toBe(!(thrown instanceof NonRetryableError));
    expect(jsonBytes(error)).toBeLessThanOrEqual(TASK_LIMITS.errorBytes);
  });

  it('cuts at a code point, keeps what fits and says where it cut', () => {
    const cut = toTaskError(new NonRetryableError('x'.repeat(3_999) + '😀 tail'));
    expect(cut.message).toBe('x'.repeat(3_999) + '…');
    const emojis = toTaskError(new Error('😀'.repeat(5_000)));
    expect(emojis.message).toBe('😀'.repeat(3_999) + '…');
    expect(toTaskError(new Error('x'.repeat(4_000))).message).toBe('x'.repeat(4_000));
    expect(toTaskError(new NonRetryableError('bad byte \u0000 in input')).message).toBe('bad byte \ufffd in input');
    expect(toTaskError(new Error('a\ud800b')).message).toBe('a\ufffdb');
    // control characters escape to 6 bytes each: cut to what the error's 16 KiB hold
    const control = toTaskError(new Error('\u0001'.repeat(4_000)));
    expect(control.message.length).toBeLessThan(4_000);
    expect(control.message.endsWith('…')).toBe(true);
  });

  it('names a nameless error by its class, and keeps or drops details with a note', () => {
    expect(toTaskError(new (class Oops extends Error { override name = ''; })('o')).type).toBe('Oops');
    expect(toTaskError(Object.assign(new Error('e'), { name: '' })).type).toBe('Error');
    expect(toTaskError(new NonRetryableError('big', { blob: 'z'.repeat(20_000) })).details).toEqual({ detailsDropped: expect.stringMatching(/^too large: 20011 bytes of JSON/) });
    expect(toTaskError(new NonRetryableError('bigint', { n: 1n as unknown })).details).toEqual({ detailsDropped: 'not serialisable as JSON (Do not know how to serialize a BigInt)' });
    expect(toTaskError(new NonRetryableError('nul', { a: 'b\u0000' })).details).toEqual({ detailsDropped: 'a: must not contain a NUL character (\\u0000)' });
    // details that fit beside at least 1 KiB of the message are kept, and the message is cut to the room they leave
    const kept = toTaskError(new NonRetryableError('m'.repeat(4_000), { blob: 'z'.repeat(14_000) }));
    expect(kept.details).toEqual({ blob: 'z'.repeat(14_000) });
    expect(kept.message.length).toBeLessThan(4_000);
  });

  it('holds for random text: unpaired surrogates, NUL, control characters, astral code points, any length', () => {
    const pool = ['a', '\u0000', '\u0001', '\n', '"', '\\', 'é', '中', '\ud83d', '\ude00', '😀', '\u2028', '\uffff'];
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed % n);
    for (let i = 0; i < 200; i++) {
      const len = rand(3) === 0 ? rand(20_000) : rand(5_000);
      let s = '';
      for (let j = 0; j < len; j++) s += pool[rand(pool.length)];
      const name = pool[rand(pool.length)]!.repeat(rand(400));
      const err = Object.assign(new NonRetryableError(s, rand(2) ? { s: s.slice(0, rand(20_000)) } : undefined), { name });
      expect(failParse(toTaskError(err)).success).toBe(true);
    }
  });

  it('storableText never exceeds its limits', () => {
    for (const [s, cps, bytes] of [['😀'.repeat(10), 3, 100], ['\u0001'.repeat(10), 100, 20], ['abc', 3, 5], ['abcd', 3, 100]] as const) {
      const out = storableText(s, cps, bytes);
      expect([...out].length).toBeLessThanOrEqual(cps);
      expect(jsonBytes(out)).toBeLessThanOrEqual(bytes);
    }
    expect(storableText('abcd', 3, 100)).toBe('ab…');
  });
});

describe('checkResult: a result the complete cannot carry fails the attempt, not retryable', () => {
  const task = { id: ID, leaseToken: TOKEN };
  it.each<[string, unknown, RegExp]>([
    ['over 64 KiB of JSON', { blob: 'y'.repeat(70_000) }, /^the result cannot be stored: result: must be at most 65536 bytes of JSON/],
    ['a BigInt', { n: 1n }, /^the result cannot be stored: it is not serialisable as JSON \(TypeError: Do not know how to serialize a BigInt\)/],
    ['a NUL', { s: '\u0000' }, /^the result cannot be stored: result\.s: must not contain a NUL/],
  ])('%s', (_label, result, message) => {
    const checked = checkResult(task, result);
    expect(checked).toMatchObject({ ok: false, error: { type: WORKER_ERROR_TYPES.resultRejected, retryable: false, message: expect.stringMatching(message) } });
    if (!checked.ok) expect(failParse(checked.error).success).toBe(true);
  });
  it('a circular result', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(checkResult(task, circular)).toMatchObject({ ok: false, error: { type: 'ResultRejected', message: expect.stringContaining('not serialisable as JSON') } });
  });
  it('passes a storable result as its JSON value', () => {
    expect(checkResult(task, { at: new Date(0), n: 1 })).toEqual({ ok: true, result: { at: '1970-01-01T00:00:00.000Z', n: 1 } });
    expect(checkResult(task, undefined)).toEqual({ ok: true, result: undefined });
  });
});

/** An AgentWorker over a fake NATS connection whose answers each test decides: one task to claim, then none. */
function fakeWorker(answer: (subject: string, body: Record<string, unknown>) => unknown, opts: Partial<AgentWorkerOptions> & Pick<AgentWorkerOptions, 'handler'>) {
  const calls: Array<{ subject: string; body: Record<string, unknown> }> = [];
  const logged: Array<[string, string]> = [];
  const task = { id: ID, leaseToken: TOKEN, attempt: 1, heartbeatTimeoutSeconds: 5, params: {} } as unknown as ClaimedTask;
  let claimed = false;
  const nc = {
    request: async (subject: string, data: string) => {
      const body = JSON.parse(data) as Record<string, unknown>;
      calls.push({ subject, body });
      let reply: unknown;
      if (subject === tasksContract.claim.subject) {
        if (claimed) await new Promise((r) => setTimeout(r, 20));
        reply = { ok: true, data: { items: claimed ? [] : [task] } };
        claimed = true;
      } else reply = answer(subject, body);
      return { json: () => reply };
    },
  } as unknown as NatsConnection;
  const logger = { warn: (_o: object, m: string) => void logged.push(['warn', m]), error: (_o: object, m: string) => void logged.push(['error', m]) };
  const worker = new AgentWorker({ nc, token: 't', agentId: ID, workerId: 'w', waitMs: 0, logger, ...opts });
  return { worker, calls, logged, task };
}
const until = async (cond: () => boolean, ms = 3_000) => {
  for (const end = Date.now() + ms; !cond() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
};
const fail = (code: string, message: string, details?: unknown) => ({ ok: false, error: { code, message, ...(details ? { details } : {}) } });

describe('AgentWorker against a fake tasks service', () => {
  it(`claims at most ${CLAIM_MAX} tasks at once whatever its concurrency`, async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const { worker, calls } = fakeWorker(() => ({ ok: true, data: {} }), { concurrency: 150, handler: () => released });
    worker.start();
    await until(() => calls.filter((c) => c.subject === tasksContract.claim.subject).length >= 2);
    release();
    await worker.stop();
    const maxes = calls.filter((c) => c.subject === tasksContract.claim.subject).map((c) => c.body.max);
    expect(maxes.slice(0, 2)).toEqual([100, 100]);
    expect(tasksContract.claim.request.safeParse({ agentId: ID, workerId: 'w', max: CLAIM_MAX }).success).toBe(true);
    expect(tasksContract.claim.request.safeParse({ agentId: ID, workerId: 'w', max: CLAIM_MAX + 1 }).success).toBe(false);
  });

  it('fails an attempt whose complete the service refused, ResultRejected naming its message, not retryable', async () => {
    const issues = [{ path: 'result', message: 'too odd' }];
    const { worker, calls, logged } = fakeWorker(
      (subject) => (subject === tasksContract.complete.subject ? fail('VALIDATION', 'result: too odd', { issues }) : { ok: true, data: {} }),
      { handler: async () => ({ fine: true }) },
    );
    worker.start();
    await until(() => calls.some((c) => c.subject === tasksContract.fail.subject));
    await worker.stop();
    const failed = calls.find((c) => c.subject === tasksContract.fail.subject);
    expect(failed?.body.error).toEqual({ message: 'the result cannot be stored: the tasks service refused it (result: too odd)', type: 'ResultRejected', retryable: false, details: { issues } });
    expect(logged).toEqual([['warn', 'the result cannot be stored: the attempt is failed, not to be retried']]);
  });

  it.each([true, false])('sends a minimal ErrorRejected when the service refuses the error (retryable %s kept)', async (retryable) => {
    let fails = 0;
    const { worker, calls, logged } = fakeWorker(
      (subject) => (subject === tasksContract.fail.subject && ++fails === 1 ? fail('VALIDATION', 'error.message: stricter than ours') : { ok: true, data: {} }),
      { handler: async () => { throw retryable ? new TypeError('boom') : new NonRetryableError('boom'); } },
    );
    worker.start();
    await until(() => fails >= 2);
    await worker.stop();
    expect(calls.filter((c) => c.subject === tasksContract.fail.subject).map((c) => c.body.error)).toEqual([
      { message: 'boom', type: retryable ? 'TypeError' : 'NonRetryableError', retryable },
      { message: `the tasks service rejected the attempt's error (${retryable ? 'TypeError' : 'NonRetryableError'}): error.message: stricter than ours`, type: 'ErrorRejected', retryable },
    ]);
    expect(logged).toEqual([['warn', 'the tasks service refused the error of an attempt: failing it with a minimal one']]);
  });

  it('aborts the handler as "gone" on a FORBIDDEN heartbeat (execute revoked) and sends nothing more', async () => {
    let reason: unknown;
    const { worker, calls } = fakeWorker((subject) => (subject === tasksContract.heartbeat.subject ? fail('FORBIDDEN', 'forbidden') : { ok: true, data: {} }), {
      heartbeatFraction: 0.05,
      handler: async (_t, ctx) => {
        // (or 2 s, so that a worker that is never told still stops)
        await new Promise<void>((resolve) => (ctx.signal.addEventListener('abort', () => resolve()), setTimeout(resolve, 2_000)));
        reason = ctx.signal.reason ?? 'not aborted';
        return 'after the abort';
      },
    });
    worker.start();
    await until(() => reason !== undefined);
    await worker.stop();
    expect(reason).toBe('gone');
    expect(calls.filter((c) => c.subject !== tasksContract.claim.subject).map((c) => c.subject)).toEqual([tasksContract.heartbeat.subject]);
  });

  it('asks a token function for a fresh token when the complete answers UNAUTHENTICATED (expired meanwhile)', async () => {
    let issued = 0;
    const { worker, calls } = fakeWorker((subject) => (subject === tasksContract.complete.subject && calls.filter((c) => c.subject === subject).length === 1 ? fail('UNAUTHENTICATED', 'expired') : { ok: true, data: {} }), {
      token: () => `t${++issued}`,
      handler: async () => 'done',
    });
    worker.start();
    await until(() => calls.filter((c) => c.subject === tasksContract.complete.subject).length >= 2);
    await worker.stop();
    expect(calls.filter((c) => c.subject === tasksContract.complete.subject)).toHaveLength(2);
  });

  it('refuses at construction an agent id or worker id the claim would refuse', () => {
    const nc = {} as NatsConnection;
    const handler = async () => undefined;
    expect(() => new AgentWorker({ nc, token: 't', agentId: 'not-a-uuid', handler })).toThrow(/agentId/);
    expect(() => new AgentWorker({ nc, token: 't', agentId: ID, workerId: 'w\u0000', handler })).toThrow(/workerId/);
    expect(() => new AgentWorker({ nc, token: 't', agentId: ID, workerId: 'w', handler })).not.toThrow();
  });

  it('a FORBIDDEN complete is not retried: the outcome is logged as not recorded', async () => {
    const { worker, calls, logged } = fakeWorker((subject) => (subject === tasksContract.complete.subject ? fail('FORBIDDEN', 'forbidden') : { ok: true, data: {} }), {
      handler: async () => 'done',
    });
    worker.start();
    await until(() => logged.length > 0);
    await worker.stop();
    expect(calls.filter((c) => c.subject === tasksContract.complete.subject)).toHaveLength(1);
    expect(logged).toEqual([['warn', 'the task is gone (deleted, or access to its agent revoked): its outcome was not recorded']]);
  });

  it('drops progress the contract refuses (a warning), never the heartbeat that renews the lease', async () => {
    const { worker, calls, logged } = fakeWorker(
      (subject) => (subject === tasksContract.heartbeat.subject ? { ok: true, data: { leaseExpiresAt: 'x', cancelRequested: false } } : { ok: true, data: {} }),
      {
        heartbeatFraction: 0.05,
        handler: async (_t, ctx) => {
          ctx.setProgress({ blob: 'p'.repeat(TASK_LIMITS.progressBytes) });
          await ctx.heartbeat();
          ctx.setProgress({ step: 2 });
          await ctx.heartbeat();
          return 'ok';
        },
      },
    );
    worker.start();
    await until(() => calls.some((c) => c.subject === tasksContract.complete.subject));
    await worker.stop();
    expect(calls.filter((c) => c.subject === tasksContract.heartbeat.subject).map((c) => c.body.progress)).toEqual([undefined, { step: 2 }]);
    expect(logged).toEqual([['warn', 'progress cannot be stored: it is not sent']]);
  });
});
