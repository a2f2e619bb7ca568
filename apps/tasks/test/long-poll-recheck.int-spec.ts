import pg from 'pg';
import { NatsCaller, testEnv, testPrefix, userToken, type RawReply } from '@agentplane/testing';
import type { ClaimedTask, Task } from '@agentplane/contracts';
import { loadConfig, SERVICE } from '../src/config.js';
import { startTasksHarness, type TasksHarness } from './setup.js';

/**
 * A long-poll's safety net (DESIGN §4.1): a change that published no wake-up (one lost with a crash between commit and
 * publish, or while NATS reconnected; here, a change made in the database directly) is still found, at the next
 * recheck, every TASKS_LONG_POLL_RECHECK_MS, not at the end of the wait.
 */
describe('tasks long-poll recheck', () => {
  const RECHECK_MS = 300;
  const WAIT_MS = 10_000;
  let h: TasksHarness;
  let caller: NatsCaller;
  let sql: pg.Client;
  const prefix = testPrefix('recheck');
  let alice: string;
  let n = 0;

  beforeAll(async () => {
    ({ caller, sql } = h = await startTasksHarness(prefix, { env: { TASKS_LONG_POLL_RECHECK_MS: String(RECHECK_MS) } }));
    alice = await userToken('acme', 'alice');
  });

  afterAll(() => h?.close());

  const ok = <T>(r: RawReply): T => {
    if (!r.body.ok) throw new Error(`expected ok, got ${JSON.stringify(r.body.error)}`);
    return r.body.data as T;
  };
  const req = (subject: string, body: object, timeoutMs = 5000) => caller.request(`tasks.v1.${subject}`, body, { token: alice, timeoutMs });
  const newAgent = async () => ok<{ id: string }>(await req('create_agent', { name: `agent-${++n}` })).id;
  const createTask = async (agentId: string, extra: object = {}) => ok<Task>(await req('create', { agentId, name: `task-${++n}`, ...extra }));
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('a waiting claim finds a task made claimable without a wake-up at its next recheck', async () => {
    const agentId = await newAgent();
    // not claimable for a minute: its wake-up names that time, and the claim below starts watching after it anyway
    const task = await createTask(agentId, { runAfter: new Date(Date.now() + 60_000).toISOString() });
    const started = Date.now();
    const polling = req('claim', { agentId, workerId: 'w1', waitMs: WAIT_MS }, WAIT_MS + 5000).then((r) => ({ items: ok<{ items: ClaimedTask[] }>(r).items, at: Date.now() }));
    await sleep(100);
    await sql.query('UPDATE tasks SET run_after = now() WHERE id = $1', [task.id]);
    const changedAt = Date.now();
    const { items, at } = await polling;
    expect(items.map((t) => t.id)).toEqual([task.id]);
    // by a recheck (every 300 ms), not at the end of the 10 s wait
    expect(at - changedAt).toBeLessThan(3_000);
    expect(at - started).toBeLessThan(WAIT_MS / 2);
  });

  it('a waiting get answers a task ended without a wake-up at its next recheck', async () => {
    const agentId = await newAgent();
    const task = await createTask(agentId);
    const waiting = req('get', { id: task.id, waitMs: WAIT_MS }, WAIT_MS + 5000).then((r) => ({ task: ok<Task>(r), at: Date.now() }));
    await sleep(100);
    await sql.query("UPDATE tasks SET status = 'canceled', finished_at = now() WHERE id = $1", [task.id]);
    const changedAt = Date.now();
    const { task: seen, at } = await waiting;
    expect(seen.status).toBe('canceled');
    expect(at - changedAt).toBeLessThan(3_000);
  });

  it('reads the recheck period, 1 s by default, and refuses one out of range naming the variable', () => {
    const env = (v?: string) => testEnv({ DATABASE_URL: h.db.url, ...(v === undefined ? {} : { TASKS_LONG_POLL_RECHECK_MS: v }) }, SERVICE);
    expect(loadConfig(env()).longPoll).toEqual({ recheckMs: 1_000 });
    expect(loadConfig(env('2500')).longPoll).toEqual({ recheckMs: 2_500 });
    for (const bad of ['50', '60001', 'soon']) expect(() => loadConfig(env(bad))).toThrow(/TASKS_LONG_POLL_RECHECK_MS/);
  });
});
