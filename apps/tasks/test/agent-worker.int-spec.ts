import pg from 'pg';
import type { NatsConnection } from '@nats-io/transport-node';
import { NatsCaller, connectAs, testPrefix, userToken, type RawReply, type RunningService } from '@agentplane/testing';
import type { TestDatabase } from '@agentplane/persistence';
import type { Task } from '@agentplane/contracts';
import { AgentWorker, NonRetryableError, type TaskHandler } from '@agentplane/worker';
import { startTasks, tasksDatabase } from './setup.js';

/** libs/worker's AgentWorker against a real tasks instance over NATS (the agent's creator is the worker here). */
describe('AgentWorker', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let caller: NatsCaller;
  let nc: NatsConnection;
  let sql: pg.Client;
  const prefix = testPrefix('agentworker');
  let alice: string;
  let n = 0;
  const workers: AgentWorker[] = [];

  beforeAll(async () => {
    db = await tasksDatabase();
    svc = await startTasks(db, prefix, { TASKS_SWEEP_INTERVAL_MS: '100' });
    caller = await NatsCaller.connect(prefix);
    nc = await connectAs('test-caller-b', 'agent-worker-test');
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    alice = await userToken('acme', 'alice');
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
  });

  afterAll(async () => {
    await sql?.end();
    await nc?.drain();
    await svc?.close();
    await caller?.close();
    await db?.drop();
  });

  const ok = <T>(r: RawReply): T => {
    if (!r.body.ok) throw new Error(JSON.stringify(r.body.error));
    return r.body.data as T;
  };
  const newAgent = async () => ok<{ id: string }>(await caller.request('tasks.v1.create_agent', { name: `agent-${++n}` }, { token: alice })).id;
  const createTask = async (agentId: string, extra: object = {}) => ok<Task>(await caller.request('tasks.v1.create', { agentId, name: `t-${++n}`, ...extra }, { token: alice }));
  const getTask = async (id: string) => ok<Task>(await caller.request('tasks.v1.get', { id }, { token: alice }));
  const until = async (id: string, done: (t: Task) => boolean, ms = 8000): Promise<Task> => {
    const end = Date.now() + ms;
    for (;;) {
      const t = await getTask(id);
      if (done(t) || Date.now() > end) return t;
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const worker = (agentId: string, handler: TaskHandler, extra: Partial<ConstructorParameters<typeof AgentWorker>[0]> = {}) => {
    const w = new AgentWorker({ nc, prefix, token: alice, agentId, workerId: 'test-worker', waitMs: 1_000, heartbeatFraction: 0.1, handler, ...extra });
    workers.push(w);
    w.start();
    return w;
  };

  it('runs tasks up to its concurrency and completes each with the handler\'s result', async () => {
    const agentId = await newAgent();
    const tasks = await Promise.all(Array.from({ length: 5 }, (_, i) => createTask(agentId, { params: { i } })));
    let running = 0;
    let peak = 0;
    worker(
      agentId,
      async (task) => {
        peak = Math.max(peak, ++running);
        await new Promise((r) => setTimeout(r, 100));
        running--;
        return { doubled: (task.params.i as number) * 2 };
      },
      { concurrency: 2 },
    );
    const done = await Promise.all(tasks.map((t) => until(t.id, (x) => x.status === 'completed')));
    expect(done.map((t) => t.result)).toEqual([0, 2, 4, 6, 8].map((d) => ({ doubled: d })));
    expect(done.every((t) => t.workerId === 'test-worker')).toBe(true);
    expect(peak).toBe(2);
  });

  it('fails a thrown attempt: retried while retryable, failed at once for a NonRetryableError', async () => {
    const agentId = await newAgent();
    const flaky = await createTask(agentId, { params: { kind: 'flaky' }, retry: { initialIntervalMs: 1, maximumIntervalMs: 1 } });
    const bad = await createTask(agentId, { params: { kind: 'bad' } });
    worker(agentId, async (task) => {
      if (task.params.kind === 'bad') throw new NonRetryableError('invalid input', { field: 'x' });
      if (task.attempt < 2) throw new TypeError('transient');
      return 'ok';
    });
    expect(await until(flaky.id, (t) => t.status === 'completed')).toMatchObject({ attempt: 2, result: 'ok', error: { message: 'transient', type: 'TypeError' } });
    expect(await until(bad.id, (t) => t.status === 'failed')).toMatchObject({ attempt: 1, error: { message: 'invalid input', retryable: false, details: { field: 'x' } } });
  });

  it('heartbeats with progress, and aborts the handler when a cancel is requested', async () => {
    const agentId = await newAgent();
    const task = await createTask(agentId, { heartbeatTimeoutSeconds: 5 });
    let reason: unknown;
    worker(agentId, async (_t, ctx) => {
      ctx.setProgress({ step: 1 });
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
      reason = ctx.signal.reason;
      throw new Error('stopped on request');
    });
    await until(task.id, (t) => t.status === 'running');
    expect(await until(task.id, (t) => t.progress !== null)).toMatchObject({ progress: { step: 1 } });
    ok(await caller.request('tasks.v1.cancel', { id: task.id }, { token: alice }));
    expect(await until(task.id, (t) => t.status === 'canceled')).toMatchObject({ status: 'canceled' });
    expect(reason).toBe('canceled');
  });

  it('aborts an attempt whose lease was lost and reports nothing for it; the retry runs as attempt 2', async () => {
    const agentId = await newAgent();
    const task = await createTask(agentId, { heartbeatTimeoutSeconds: 5, retry: { initialIntervalMs: 1, maximumIntervalMs: 1 } });
    const reasons: unknown[] = [];
    worker(
      agentId,
      async (t, ctx) => {
        if (t.attempt > 1) return 'second';
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
        reasons.push(ctx.signal.reason);
        return 'first (too late)';
      },
      { concurrency: 2 },
    );
    await until(task.id, (t) => t.status === 'running');
    // as if the worker had stalled past its lease: the sweeper ends attempt 1, the next heartbeat learns it
    await sql.query("UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = $1", [task.id]);
    expect(await until(task.id, (t) => t.status === 'completed')).toMatchObject({ attempt: 2, result: 'second' });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(reasons).toEqual(['lease_lost']);
    expect(await getTask(task.id)).toMatchObject({ attempt: 2, result: 'second' });
  });

  it('aborts a task deleted while it runs as "gone", and a handler that ends before its next heartbeat has its outcome dropped with a warning', async () => {
    const agentId = await newAgent();
    const logged: Array<[string, string]> = [];
    const logger = { warn: (_o: object, msg: string) => void logged.push(['warn', msg]), error: (_o: object, msg: string) => void logged.push(['error', msg]) };
    // a heartbeat every 500 ms: the first task waits for its signal; the second ends at once after its delete, before it
    const waiting = await createTask(agentId, { heartbeatTimeoutSeconds: 5, params: { kind: 'waits' } });
    const quick = await createTask(agentId, { heartbeatTimeoutSeconds: 30, params: { kind: 'quick' } });
    const reasons: unknown[] = [];
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    worker(
      agentId,
      async (t, ctx) => {
        if (t.params.kind === 'quick') {
          await released;
          return 'too late';
        }
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
        reasons.push(ctx.signal.reason);
        return 'after the abort';
      },
      { concurrency: 2, logger },
    );
    await Promise.all([waiting, quick].map((t) => until(t.id, (x) => x.status === 'running')));
    for (const t of [waiting, quick]) expect((await caller.request('tasks.v1.delete', { id: t.id }, { token: alice })).body.ok).toBe(true);
    release();
    for (const end = Date.now() + 5_000; (reasons.length < 1 || logged.length < 1) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
    expect(reasons).toEqual(['gone']);
    expect(logged).toEqual([['warn', 'the task is gone (deleted, or access to its agent revoked): its outcome was not recorded']]);
  });

  it('keeps an outcome through a tasks outage: its complete is retried until an instance answers, and the task completes as attempt 1, run once', async () => {
    const agentId = await newAgent();
    const task = await createTask(agentId, { heartbeatTimeoutSeconds: 30 });
    const logged: Array<[string, string]> = [];
    const logger = { warn: (_o: object, msg: string) => void logged.push(['warn', msg]), error: (_o: object, msg: string) => void logged.push(['error', msg]) };
    let runs = 0;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    worker(
      agentId,
      async () => {
        runs++;
        await released;
        return 'kept';
      },
      { logger, requestTimeoutMs: 1_000 },
    );
    await until(task.id, (t) => t.status === 'running');
    // no tasks instance answers while the handler ends (a deploy, a crash): its complete finds no responders
    await svc.close();
    release();
    const retrying = () => logged.filter(([, msg]) => msg === 'could not report the end of an attempt yet; retrying').length;
    for (const end = Date.now() + 10_000; retrying() < 2 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
    expect(retrying()).toBeGreaterThanOrEqual(2);
    svc = await startTasks(db, prefix, { TASKS_SWEEP_INTERVAL_MS: '100' });
    // well inside the 30 s lease: the retried complete, not the lease's expiry and a second run
    expect(await until(task.id, (t) => t.status === 'completed', 15_000)).toMatchObject({ status: 'completed', attempt: 1, result: 'kept' });
    expect([runs, logged.filter(([level]) => level === 'error')]).toEqual([1, []]);
  });

  it('gives up reporting once the attempt\'s lease would have run out: one error, no retries after it, and a stop that ends', async () => {
    const agentId = await newAgent();
    await createTask(agentId, { heartbeatTimeoutSeconds: 5 });
    const logged: Array<[string, string, number]> = [];
    const logger = {
      warn: (_o: object, msg: string) => void logged.push(['warn', msg, Date.now()]),
      error: (_o: object, msg: string) => void logged.push(['error', msg, Date.now()]),
    };
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const w = worker(
      agentId,
      async () => {
        started();
        await svc.close(); // no tasks instance answers from here on
        return 'lost';
      },
      { logger, requestTimeoutMs: 500, heartbeatFraction: 0.9 },
    );
    await running;
    const t0 = Date.now();
    for (const end = Date.now() + 15_000; !logged.some(([level]) => level === 'error') && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
    const failedAt = logged.find(([level]) => level === 'error');
    // within the 5 s lease (from the claim) and a last backoff, not never
    expect([failedAt?.[1], (failedAt?.[2] ?? Infinity) - t0 < 8_000]).toEqual(['could not report the end of an attempt', true]);
    const retries = logged.filter(([, msg]) => msg === 'could not report the end of an attempt yet; retrying').length;
    expect(retries).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(logged.filter(([, msg]) => msg === 'could not report the end of an attempt yet; retrying')).toHaveLength(retries);
    await w.stop();
    svc = await startTasks(db, prefix, { TASKS_SWEEP_INTERVAL_MS: '100' });
  });

  it('fails an attempt at once whatever its error: a message cut at a code point, a NUL, escapes past the byte limit, details too big, no name', async () => {
    const agentId = await newAgent();
    const cases: Record<string, () => Error> = {
      emoji: () => new NonRetryableError('x'.repeat(3_999) + '😀 tail'),
      nul: () => new NonRetryableError('bad byte \u0000 in input'),
      control: () => new NonRetryableError('\u0001'.repeat(4_000)),
      details: () => new NonRetryableError('big details', { blob: 'z'.repeat(20_000) }),
      nameless: () => Object.assign(new Error('no name'), { name: '' }),
    };
    const tasks = await Promise.all(Object.keys(cases).map((kind) => createTask(agentId, { params: { kind }, maxAttempts: 1, heartbeatTimeoutSeconds: 5 })));
    const runs: string[] = [];
    worker(
      agentId,
      async (t) => {
        runs.push(t.params.kind as string);
        throw cases[t.params.kind as string]!();
      },
      { concurrency: tasks.length },
    );
    // well inside the 5 s lease: the fail itself ended each attempt, not the lease's expiry (a retryable lease_expired)
    const [emoji, nul, control, details, nameless] = await Promise.all(tasks.map((t) => until(t.id, (x) => x.status !== 'running' && x.status !== 'pending', 4_000)));
    expect(emoji).toMatchObject({ status: 'failed', attempt: 1, error: { message: 'x'.repeat(3_999) + '…', type: 'NonRetryableError', retryable: false } });
    expect(nul).toMatchObject({ status: 'failed', attempt: 1, error: { message: 'bad byte \ufffd in input', retryable: false } });
    expect(control).toMatchObject({ status: 'failed', attempt: 1, error: { retryable: false } });
    // 6 bytes each once escaped: as many as the error's 16 KiB hold, then the cut's mark
    const controlMessage = (control.error as { message: string }).message;
    expect(controlMessage).toBe('\u0001'.repeat(controlMessage.length - 1) + '…');
    expect(controlMessage.length).toBeGreaterThan(2_000);
    expect(details).toMatchObject({ status: 'failed', attempt: 1, error: { message: 'big details', retryable: false, details: { detailsDropped: expect.stringMatching(/^too large/) } } });
    expect(nameless).toMatchObject({ status: 'failed', attempt: 1, error: { message: 'no name', type: 'Error', retryable: true } });
    expect(runs.sort()).toEqual(Object.keys(cases).sort());
  });

  it('fails an attempt whose result cannot be stored, not retryable and saying why, where it ran until its lease and again', async () => {
    const agentId = await newAgent();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const results: Record<string, unknown> = { huge: { blob: 'y'.repeat(70_000) }, bigint: { n: 1n }, circular };
    const tasks = await Promise.all(Object.keys(results).map((kind) => createTask(agentId, { params: { kind }, heartbeatTimeoutSeconds: 5 })));
    let runs = 0;
    worker(
      agentId,
      async (t) => {
        runs++;
        return results[t.params.kind as string];
      },
      { concurrency: tasks.length },
    );
    const [huge, bigint, circ] = await Promise.all(tasks.map((t) => until(t.id, (x) => x.status !== 'running' && x.status !== 'pending', 4_000)));
    expect(huge).toMatchObject({
      status: 'failed',
      attempt: 1,
      result: null,
      error: { type: 'ResultRejected', retryable: false, message: 'the result cannot be stored: result: must be at most 65536 bytes of JSON' },
    });
    expect(bigint).toMatchObject({ status: 'failed', attempt: 1, error: { type: 'ResultRejected', retryable: false, message: expect.stringContaining('not serialisable as JSON (TypeError: Do not know how to serialize a BigInt)') } });
    expect(circ).toMatchObject({ status: 'failed', attempt: 1, error: { type: 'ResultRejected', retryable: false, message: expect.stringContaining('not serialisable as JSON') } });
    expect(runs).toBe(3);
  });

  it('claims with a concurrency above the claim\'s 100: each claim asks for at most 100', async () => {
    const agentId = await newAgent();
    const task = await createTask(agentId);
    worker(agentId, async () => 'done', { concurrency: 150, errorBackoffMs: 200 });
    expect(await until(task.id, (t) => t.status === 'completed', 3_000)).toMatchObject({ status: 'completed', result: 'done' });
  });

  it('keeps renewing the lease when the progress cannot be stored: that progress is dropped, a later one is sent', async () => {
    const agentId = await newAgent();
    const task = await createTask(agentId, { heartbeatTimeoutSeconds: 5 });
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let setProgress!: (p: unknown) => void;
    worker(agentId, async (_t, ctx) => {
      setProgress = ctx.setProgress;
      ctx.setProgress({ blob: 'p'.repeat(20_000) });
      await released;
      return 'ok';
    });
    try {
      const claimed = await until(task.id, (t) => t.status === 'running');
      // heartbeats every 500 ms: the lease moves on although the progress is refused
      const renewed = await until(task.id, (t) => Date.parse(t.leaseExpiresAt!) > Date.parse(claimed.leaseExpiresAt!) + 500, 3_000);
      expect(Date.parse(renewed.leaseExpiresAt!)).toBeGreaterThan(Date.parse(claimed.leaseExpiresAt!) + 500);
      expect(renewed.progress).toBeNull();
      setProgress({ step: 2 });
      expect(await until(task.id, (t) => t.progress !== null, 3_000)).toMatchObject({ progress: { step: 2 } });
    } finally {
      release(); // so that the worker's stop ends, whatever failed
    }
    expect(await until(task.id, (t) => t.status === 'completed', 3_000)).toMatchObject({ status: 'completed', attempt: 1 });
  });

  it('drains on stop: no new claims, the task in hand completes', async () => {
    const agentId = await newAgent();
    const first = await createTask(agentId);
    let started = 0;
    const w = worker(agentId, async () => {
      started++;
      await new Promise((r) => setTimeout(r, 400));
      return 'drained';
    });
    await until(first.id, (t) => t.status === 'running');
    await w.stop();
    expect(await getTask(first.id)).toMatchObject({ status: 'completed', result: 'drained' });
    const second = await createTask(agentId);
    await new Promise((r) => setTimeout(r, 300));
    expect(await getTask(second.id)).toMatchObject({ status: 'pending' });
    expect(started).toBe(1);
  });

  it('claims a busy worker\'s next task with its complete: one call per task, never past its concurrency', async () => {
    const agentId = await newAgent();
    const tasks = [];
    for (let i = 0; i < 10; i++) tasks.push(await createTask(agentId, { params: { i } }));
    // the worker's calls, counted by subject
    const calls = new Map<string, number>();
    const counting = new Proxy(nc, {
      get(target, prop, receiver) {
        if (prop === 'request') {
          return (subject: string, ...rest: unknown[]) => {
            const name = subject.slice(prefix.length);
            calls.set(name, (calls.get(name) ?? 0) + 1);
            return (target.request as (...a: unknown[]) => unknown).call(target, subject, ...rest);
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    let running = 0;
    let peak = 0;
    worker(
      agentId,
      async () => {
        peak = Math.max(peak, ++running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
        return { ok: true };
      },
      { nc: counting, concurrency: 1 },
    );
    const done = await Promise.all(tasks.map((t) => until(t.id, (x) => x.status === 'completed')));
    expect(done.every((t) => t.status === 'completed')).toBe(true);
    expect(peak).toBe(1);
    expect(calls.get('tasks.v1.complete')).toBe(10);
    // the first claim, and at most the long-poll begun once the last complete found nothing more
    expect(calls.get('tasks.v1.claim')).toBeLessThanOrEqual(2);
  });
});
