import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { signDevToken } from '@agentplane/auth';
import { readMetric } from '@agentplane/observability';
import type { Task } from '@agentplane/contracts';
import { AgentWorker } from '@agentplane/worker';
import { freePort, spawnApp, stopChild, waitReady, type RunningApp } from '../../src/stack.js';
import { bootStack, callerOf, natsAs, waitFor, E2E_SECRET, sqlQuery, type E2E } from './harness.js';
import type { NatsCaller } from '@agentplane/testing';

const token = (sub: string, extra: object = {}) => signDevToken({ secret: E2E_SECRET, issuer: 'agentplane', audience: 'agentplane', tenant: 'acme', sub, ...extra });

/** Issue 18's fleet and crash proofs: two tasks instances, eight AgentWorkers over NATS, a worker process SIGKILLed. */
describe('a fleet of workers on two tasks instances', () => {
  let e2e: E2E;
  let tasks2: RunningApp;
  let caller: NatsCaller;
  let owner: string;

  beforeAll(async () => {
    e2e = await bootStack('e2e_fleet', { TASKS_SWEEP_INTERVAL_MS: '200' }, { exactConfig: true });
    // a second tasks instance: same configuration and identity, the same queue group
    const spec = e2e.stack.apps.tasks!.spec;
    tasks2 = spawnApp(spec, await freePort(), { ...e2e.env, ...e2e.serviceEnv.tasks! });
    await waitReady(tasks2, 60_000);
    caller = await callerOf(e2e);
    owner = await token('fleet-owner');
  }, 120_000);

  afterAll(async () => {
    await caller?.close();
    if (tasks2) await stopChild(tasks2.child);
    await e2e?.stop();
  });

  const ok = <T>(r: { body: { ok: boolean; data?: unknown; error?: unknown } }): T => {
    if (!r.body.ok) throw new Error(JSON.stringify(r.body.error));
    return r.body.data as T;
  };
  const newAgent = async (name: string) => ok<{ id: string }>(await caller.request('tasks.v1.create_agent', { name }, { token: owner })).id;

  it('runs 2,000 tasks (10 % failing once) with 8 workers: each completed exactly once, no stale token ever accepted', async () => {
    const agentId = await newAgent('fleet');
    const N = 2000;
    const names = Array.from({ length: N }, (_, i) => `fleet-${i}${i % 10 === 0 ? '-flaky' : ''}`);
    const workers: AgentWorker[] = [];
    const conns: Array<{ close(): Promise<void> }> = [];
    const runs = new Map<string, number>();
    let maxRunningPerTask = 0;
    const inFlight = new Set<string>();
    for (let w = 0; w < 8; w++) {
      const nc = await natsAs(e2e, 'test-caller-b');
      conns.push(nc);
      const worker = new AgentWorker({
        nc,
        token: owner,
        agentId,
        workerId: `fleet-w${w}`,
        concurrency: 4,
        waitMs: 1_000,
        handler: async (task) => {
          // never two attempts of one task at once
          if (inFlight.has(task.id)) maxRunningPerTask = 2;
          inFlight.add(task.id);
          try {
            runs.set(task.id, (runs.get(task.id) ?? 0) + 1);
            await new Promise((r) => setTimeout(r, 2 + Math.random() * 8));
            if (task.name.endsWith('-flaky') && task.attempt === 1) throw new Error('flaky, once');
            return { ran: task.attempt };
          } finally {
            inFlight.delete(task.id);
          }
        },
      });
      worker.start();
      workers.push(worker);
    }
    try {
      // created concurrently, 32 at a time, over NATS
      for (let i = 0; i < N; i += 32) {
        await Promise.all(
          names.slice(i, i + 32).map(async (name) => ok<Task>(await caller.request('tasks.v1.create', { agentId, name, retry: { initialIntervalMs: 50, maximumIntervalMs: 200 } }, { token: owner }))),
        );
      }
      const db = e2e.dbs.tasks!.url;
      const done = await waitFor(
        async () => Number((await sqlQuery<{ n: string }>(db, "SELECT count(*) AS n FROM tasks WHERE agent_id = $1 AND status = 'completed'", [agentId]))[0]!.n),
        (n) => n === N,
        120_000,
      );
      expect(done).toBe(N);
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await Promise.all(conns.map((c) => c.close()));
    }
    expect(maxRunningPerTask).toBe(0);
    const db = e2e.dbs.tasks!.url;
    const rows = await sqlQuery<{ name: string; status: string; attempt: number }>(db, 'SELECT name, status, attempt FROM tasks WHERE agent_id = $1', [agentId]);
    expect(rows).toHaveLength(N);
    const flaky = rows.filter((r) => r.name.endsWith('-flaky'));
    expect(flaky).toHaveLength(N / 10);
    expect(flaky.every((r) => r.attempt >= 2)).toBe(true);
    expect(rows.filter((r) => !r.name.endsWith('-flaky')).every((r) => r.attempt >= 1)).toBe(true);
    // From the history: one completion per task, by its last claimed attempt; every retry ended a claimed attempt.
    const history = await sqlQuery<{ task_id: string; completed: string; last_claim: number; completed_attempt: number; stale_retries: string }>(
      db,
      `SELECT e.task_id,
              count(*) FILTER (WHERE e.type = 'completed') AS completed,
              max((e.data->>'attempt')::int) FILTER (WHERE e.type = 'claimed') AS last_claim,
              max((e.data->>'attempt')::int) FILTER (WHERE e.type = 'completed') AS completed_attempt,
              count(*) FILTER (WHERE e.type = 'retry_scheduled' AND NOT EXISTS (
                SELECT 1 FROM task_events c WHERE c.task_id = e.task_id AND c.type = 'claimed' AND c.data->>'attempt' = e.data->>'attempt')) AS stale_retries
         FROM task_events e JOIN tasks t ON t.id = e.task_id WHERE t.agent_id = $1 GROUP BY e.task_id`,
      [agentId],
    );
    expect(history).toHaveLength(N);
    expect(history.filter((h) => Number(h.completed) !== 1)).toEqual([]);
    expect(history.filter((h) => h.completed_attempt !== h.last_claim)).toEqual([]);
    expect(history.filter((h) => Number(h.stale_retries) > 0)).toEqual([]);
    // both instances served the protocol
    for (const app of [e2e.stack.apps.tasks!, tasks2]) {
      expect(await readMetric(app.url, 'rpc_server_requests_total', { subject: 'tasks.v1.complete' })).toBeGreaterThan(0);
    }
  }, 240_000);

  const startWorkerProcess = async (agentId: string) => {
    const id = await e2e.nats.identity('test-caller-b');
    const child = spawn(process.execPath, [join(__dirname_(), 'fixtures', 'worker-process.mjs')], {
      env: { PATH: process.env.PATH ?? '', NATS_URL: e2e.nats.url, NATS_NKEY_SEED_FILE: id.seedFile, NATS_INBOX_PREFIX: id.inboxPrefix, WORKER_TOKEN: owner, AGENT_ID: agentId },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const claimed = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString('utf8');
        const m = /claimed (\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`worker process exited with ${code} before claiming`)));
    });
    return { child, claimed };
  };

  it('retries the task of a worker process SIGKILLed mid-task after its lease, and another worker completes it', async () => {
    const agentId = await newAgent('crash');
    const task = ok<Task>(await caller.request('tasks.v1.create', { agentId, name: 'crash-1', heartbeatTimeoutSeconds: 5, retry: { initialIntervalMs: 100 } }, { token: owner }));
    const { child, claimed } = await startWorkerProcess(agentId);
    expect(claimed).toBe(task.id);
    await new Promise((r) => setTimeout(r, 1_500)); // it heartbeats meanwhile
    const killedAt = Date.now();
    child.kill('SIGKILL');
    const nc = await natsAs(e2e, 'test-caller-b');
    const rescuer = new AgentWorker({ nc, token: owner, agentId, workerId: 'rescuer', waitMs: 1_000, handler: async (t) => ({ rescued: t.attempt }) });
    rescuer.start();
    try {
      const get = async () => ok<Task>(await caller.request('tasks.v1.get', { id: task.id }, { token: owner }));
      const end = await waitFor(get, (t) => t.status === 'completed', 20_000);
      expect(end).toMatchObject({ status: 'completed', attempt: 2, result: { rescued: 2 } });
      // not before its lease ran out (5 s after the last heartbeat), and within a few seconds of it
      const finished = new Date(end.finishedAt!).getTime();
      expect(finished - killedAt).toBeGreaterThan(3_000);
      expect(finished - killedAt).toBeLessThan(12_000);
      const types = (await sqlQuery<{ type: string }>(e2e.dbs.tasks!.url, 'SELECT type FROM task_events WHERE task_id = $1 ORDER BY seq', [task.id])).map((r) => r.type);
      expect(types).toEqual(expect.arrayContaining(['claimed', 'lease_expired', 'completed']));
    } finally {
      await rescuer.stop();
      await nc.close();
    }
  }, 60_000);

  it('ends the task failed with lease_expired when its only attempt dies with the worker process', async () => {
    const agentId = await newAgent('crash-once');
    const task = ok<Task>(await caller.request('tasks.v1.create', { agentId, name: 'crash-2', heartbeatTimeoutSeconds: 5, maxAttempts: 1 }, { token: owner }));
    const { child, claimed } = await startWorkerProcess(agentId);
    expect(claimed).toBe(task.id);
    child.kill('SIGKILL');
    const end = await waitFor(async () => ok<Task>(await caller.request('tasks.v1.get', { id: task.id }, { token: owner })), (t) => t.status === 'failed', 20_000);
    expect(end).toMatchObject({ status: 'failed', attempt: 1, error: expect.objectContaining({ type: 'lease_expired' }) });
  }, 60_000);
});

function __dirname_(): string {
  return join(process.cwd(), 'test', 'e2e');
}
