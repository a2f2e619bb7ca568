import { userToken, testPrefix, type RawReply } from '@agentplane/testing';
import type { ClaimedTask, Task } from '@agentplane/contracts';
import { startTasksHarness, type TasksHarness } from './setup.js';

/**
 * The worker protocol (DESIGN §4.1) under random concurrent use, checked by what must hold whatever the order:
 * four workers claim, heartbeat, complete, fail (retryable or not), abandon attempts (their lease then expires),
 * replay their own calls and use tokens of attempts they already ended, while a fifth party cancels tasks. Then
 * every task is driven to an end and each one's history is replayed through the state machine of
 * docs/worker-protocol.md. The choices come from a seeded generator (`WORKER_FUZZ_SEED`), so a failure repeats.
 */

type Ev = { seq: number; type: string; data: Record<string, unknown> };
const TERMINAL = new Set(['completed', 'failed', 'canceled']);

/** mulberry32: small, seeded, good enough to choose actions. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A task's history replayed through the lifecycle: the problems found, none when it is a valid life. `created`
 * first; a claim only from pending, each one the next attempt; progress, cancel requests and sweeps only while
 * running; a sweep followed at once by the attempt's end; `canceled` from running only after a cancel request of
 * that attempt; one terminal event, the last.
 */
function lifeProblems(events: Ev[], maxAttempts: number): string[] {
  const problems: string[] = [];
  const say = (e: Ev, why: string) => problems.push(`seq ${e.seq} ${e.type}: ${why}`);
  events.forEach((e, i) => {
    if (e.seq !== i + 1) say(e, `expected seq ${i + 1}`);
  });
  let state: 'none' | 'pending' | 'running' | 'sweeping' | 'ended' = 'none';
  let attempt = 0;
  let cancelRequested = false;
  for (const e of events) {
    if (state === 'ended') {
      say(e, 'after the end');
      continue;
    }
    if (state === 'sweeping' && !['retry_scheduled', 'failed', 'canceled'].includes(e.type)) say(e, 'a sweep not followed by the end of its attempt');
    const ofAttempt = (e.data as { attempt?: number }).attempt;
    switch (e.type) {
      case 'created':
        if (state !== 'none') say(e, 'created twice');
        state = 'pending';
        break;
      case 'claimed':
        if (state !== 'pending') say(e, `claimed while ${state}`);
        attempt++;
        if (attempt > maxAttempts) say(e, `attempt ${attempt} of at most ${maxAttempts}`);
        cancelRequested = false;
        state = 'running';
        break;
      case 'progress':
      case 'cancel_requested':
        if (state !== 'running') say(e, `while ${state}`);
        if (e.type === 'cancel_requested') cancelRequested = true;
        break;
      case 'lease_expired':
      case 'timed_out':
        if (state !== 'running') say(e, `while ${state}`);
        if (ofAttempt !== attempt) say(e, `names attempt ${ofAttempt}, the running one is ${attempt}`);
        state = 'sweeping';
        break;
      case 'retry_scheduled':
        if (state !== 'running' && state !== 'sweeping') say(e, `while ${state}`);
        if (attempt >= maxAttempts) say(e, `a retry after the last attempt (${attempt})`);
        if (cancelRequested) say(e, 'a retry after a cancel request');
        state = 'pending';
        break;
      case 'completed':
      case 'failed':
        if (state !== 'running' && state !== 'sweeping') say(e, `while ${state}`);
        state = 'ended';
        break;
      case 'canceled':
        if (state === 'running' || state === 'sweeping') {
          if (!cancelRequested) say(e, 'a running attempt canceled without a cancel request');
        } else if (state !== 'pending') say(e, `while ${state}`);
        state = 'ended';
        break;
      default:
        say(e, 'an unknown type');
    }
  }
  if (state !== 'ended') problems.push(`no end (${state})`);
  return problems;
}

describe('the worker protocol under random concurrent use', () => {
  let h: TasksHarness;
  let alice: string;
  const prefix = testPrefix('wrand');
  const SEED = Number(process.env.WORKER_FUZZ_SEED ?? 20261206);

  beforeAll(async () => {
    h = await startTasksHarness(prefix, { env: { TASKS_SWEEP_INTERVAL_MS: '100', TASKS_LONG_POLL_RECHECK_MS: '200' } });
    alice = await userToken('acme', 'alice');
  });

  afterAll(() => h?.close());

  const req = (subject: string, body: object) => h.caller.request(`tasks.v1.${subject}`, body, { token: alice });
  const data = <T>(r: RawReply): T => {
    if (!r.body.ok) throw new Error(`expected ok, got ${JSON.stringify(r.body.error)}`);
    return r.body.data as T;
  };
  const isLeaseLost = (r: RawReply) => r.body.ok === false && r.body.error?.code === 'CONFLICT' && (r.body.error.details as { reason?: string } | undefined)?.reason === 'lease_lost';

  it('keeps every task to one valid life: fenced tokens, one holder per attempt, one end', async () => {
    const agentId = data<{ id: string }>(await req('create_agent', { name: 'random-agent' })).id;
    const TASKS = 24;
    const MAX_ATTEMPTS = 3;
    const tasks: Task[] = [];
    for (let i = 0; i < TASKS; i++) {
      tasks.push(data<Task>(await req('create', { agentId, name: `random-${i}`, maxAttempts: MAX_ATTEMPTS, retry: { initialIntervalMs: 1, maximumIntervalMs: 5 } })));
    }
    const ids = new Set(tasks.map((t) => t.id));
    const wrong: string[] = [];
    /** Every (task, attempt) a claim handed out, and to whom: never twice. */
    const handedOut = new Map<string, string>();
    /** Tokens whose attempt its worker ended itself with an answered complete or fail: from then on fenced. */
    const ended: Array<{ id: string; leaseToken: string }> = [];
    /** Every call that ended an attempt, to be repeated with the same body (the same task must come back). */
    const enders: Array<{ subject: 'complete' | 'fail'; body: Record<string, unknown>; task: Task }> = [];
    /** Tokens a worker walked away from, with the attempt they belong to. */
    const abandoned: Array<{ id: string; attempt: number }> = [];
    let ops = 0;
    let staleOnLive = 0;
    let staleCalls = 0;
    /** The attempt a worker holds of each task it holds. */
    const running = new Map<string, number>();

    const worker = async (w: number) => {
      const next = rng(SEED + w);
      const held: ClaimedTask[] = [];
      for (let step = 0; step < 100; step++) {
        ops++;
        const r = next();
        if (held.length === 0 || r < 0.2) {
          const items = data<{ items: ClaimedTask[] }>(await req('claim', { agentId, workerId: `w${w}`, max: 1 + Math.floor(next() * 3) })).items;
          for (const t of items) {
            if (!ids.has(t.id)) wrong.push(`claimed a task not of this test: ${t.id}`);
            const key = `${t.id}#${t.attempt}`;
            if (handedOut.has(key)) wrong.push(`${key} handed out twice (to ${handedOut.get(key)} and w${w})`);
            handedOut.set(key, `w${w}`);
            running.set(t.id, t.attempt);
            if (t.status !== 'running' || t.attempt > MAX_ATTEMPTS) wrong.push(`claimed ${key} as ${t.status}`);
            held.push(t);
          }
          continue;
        }
        const t = held[Math.floor(next() * held.length)]!;
        const drop = () => {
          held.splice(held.indexOf(t), 1);
          if (running.get(t.id) === t.attempt) running.delete(t.id);
        };
        if (r < 0.3) {
          const reply = await req('heartbeat', { id: t.id, leaseToken: t.leaseToken, progress: { step } });
          // a heartbeat of a held attempt may find it already ended by the sweeper only if we abandoned it; we never do that to a held one
          if (!reply.body.ok) wrong.push(`heartbeat of a held attempt ${t.id}#${t.attempt}: ${JSON.stringify(reply.body.error)}`);
        } else if (r < 0.6) {
          const complete = r < 0.45;
          const body = complete
            ? { id: t.id, leaseToken: t.leaseToken, result: { by: `w${w}`, step } }
            : { id: t.id, leaseToken: t.leaseToken, error: { message: `w${w} step ${step}`, retryable: next() < 0.7 } };
          const reply = await req(complete ? 'complete' : 'fail', body);
          drop();
          if (!reply.body.ok) {
            wrong.push(`${complete ? 'complete' : 'fail'} of a held attempt ${t.id}#${t.attempt}: ${JSON.stringify(reply.body.error)}`);
            continue;
          }
          const task = reply.body.data as Task;
          if (task.attempt !== t.attempt) wrong.push(`${t.id}: the token of attempt ${t.attempt} answered for attempt ${task.attempt}`);
          if (complete && task.status !== 'completed') wrong.push(`${t.id}: a complete left it ${task.status}`);
          if (!complete && !['pending', 'failed', 'canceled'].includes(task.status)) wrong.push(`${t.id}: a fail left it ${task.status}`);
          ended.push({ id: t.id, leaseToken: t.leaseToken });
          enders.push({ subject: complete ? 'complete' : 'fail', body, task });
        } else if (r < 0.65) {
          drop();
          abandoned.push({ id: t.id, attempt: t.attempt });
          await h.sql.query("UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = $1 AND attempt = $2 AND status = 'running'", [t.id, t.attempt]);
        } else if (r < 0.85 && ended.length > 0) {
          // an ended token, of a task another attempt now holds where there is one: what fencing is for
          const live = ended.filter((e) => running.has(e.id));
          const pool = live.length > 0 ? live : ended;
          const stale = pool[Math.floor(next() * pool.length)]!;
          if (live.length > 0) staleOnLive++;
          const which = (['heartbeat', 'complete', 'fail'] as const)[staleCalls++ % 3]!;
          const reply = await req(which, { id: stale.id, leaseToken: stale.leaseToken, ...(which === 'complete' ? { result: { late: step } } : which === 'fail' ? { error: { message: `late ${step}` } } : {}) });
          if (!isLeaseLost(reply)) wrong.push(`a ${which} with an ended token of ${stale.id} was not lease_lost: ${JSON.stringify(reply.body).slice(0, 200)}`);
        } else if (enders.length > 0) {
          const again = enders[Math.floor(next() * enders.length)]!;
          const reply = await req(again.subject, again.body);
          const task = reply.body.ok ? (reply.body.data as Task) : undefined;
          // The same answer again, until a later attempt has started (a retried fail): then the token is fenced.
          const later = !task && isLeaseLost(reply) && data<Task>(await req('get', { id: again.task.id })).attempt > again.task.attempt;
          if (!later && (!task || task.id !== again.task.id || task.attempt !== again.task.attempt)) wrong.push(`a repeated ${again.subject} of ${again.task.id}#${again.task.attempt}: ${JSON.stringify(reply.body).slice(0, 200)}`);
        }
      }
      return held;
    };
    const canceler = async () => {
      const next = rng(SEED + 99);
      for (let step = 0; step < 12; step++) {
        const t = tasks[Math.floor(next() * tasks.length)]!;
        const reply = await req('cancel', { id: t.id });
        ops++;
        if (!reply.body.ok && reply.body.error?.code !== 'CONFLICT') wrong.push(`cancel ${t.id}: ${JSON.stringify(reply.body.error)}`);
        await new Promise((r) => setTimeout(r, next() * 20));
      }
    };
    const stillHeld = (await Promise.all([worker(1), worker(2), worker(3), worker(4), canceler()])).flat().filter((x): x is ClaimedTask => !!x);

    // Drive every task to an end: cancel all, end the attempts still held, let the sweeper end the abandoned ones.
    for (const t of tasks) await req('cancel', { id: t.id });
    for (const t of stillHeld) {
      const reply = await req('fail', { id: t.id, leaseToken: t.leaseToken, error: { message: 'the test ends' } });
      if (!reply.body.ok) wrong.push(`ending a held attempt ${t.id}#${t.attempt}: ${JSON.stringify(reply.body.error)}`);
    }
    const deadline = Date.now() + 20_000;
    let open: Task[] = [];
    do {
      // a claim between the cancels and now may have started an attempt no one holds: expire it
      await h.sql.query("UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE agent_id = $1 AND status = 'running'", [agentId]);
      for (const t of tasks) await req('cancel', { id: t.id });
      open = (await Promise.all(tasks.map(async (t) => data<Task>(await req('get', { id: t.id }))))).filter((t) => !TERMINAL.has(t.status));
      if (open.length) await new Promise((r) => setTimeout(r, 200));
    } while (open.length && Date.now() < deadline);
    expect(open.map((t) => `${t.id} ${t.status}`)).toEqual([]);

    // Each life, replayed.
    const outcomes = new Map<string, number>();
    for (const t of tasks) {
      const final = data<Task>(await req('get', { id: t.id }));
      const events = data<{ items: Ev[] }>(await req('list_events', { id: t.id, limit: 500 })).items;
      for (const p of lifeProblems(events, MAX_ATTEMPTS)) wrong.push(`${t.id}: ${p}`);
      const last = events[events.length - 1];
      if (last?.type !== final.status) wrong.push(`${t.id}: ends ${final.status}, its last event is ${last?.type}`);
      if (events.filter((e) => e.type === 'claimed').length !== final.attempt) wrong.push(`${t.id}: attempt ${final.attempt} after ${events.filter((e) => e.type === 'claimed').length} claims`);
      outcomes.set(final.status, (outcomes.get(final.status) ?? 0) + 1);
    }
    expect(wrong).toEqual([]);
    // the run exercised what it claims to: attempts ended every way, and tokens were fenced
    expect(ops).toBeGreaterThan(200);
    expect(handedOut.size).toBeGreaterThan(TASKS);
    expect(ended.length).toBeGreaterThan(5);
    expect(abandoned.length).toBeGreaterThan(0);
    expect(staleOnLive).toBeGreaterThanOrEqual(3);
    expect([...outcomes.keys()].sort()).toEqual(expect.arrayContaining(['canceled', 'completed']));
  }, 90_000);
});
