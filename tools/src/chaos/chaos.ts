/**
 * `npm run chaos` (DESIGN §13): scale-out and faults, proven. On loopback it starts a 3-node NATS cluster (the
 * project's secured config with cluster routes; EVENTS with 3 replicas), a PostgreSQL cluster of its own, and two
 * instances of every service and of the gateway. It drives a steady load (producers creating tasks through both
 * gateways with Idempotency-Keys and retrying like a good client; workers claiming, heartbeating and completing with
 * the worker client; readers), restarts each service instance in turn as a deploy does (SIGTERM: no request may
 * fail), then injects faults one after another (SIGKILL an instance of each app and restart it,
 * stop a NATS node, restart PostgreSQL, SIGSTOP a tasks instance past a lease), then drains and checks the
 * invariants, printing each with its figure. Exit 1 when any invariant fails.
 *   npm run chaos [-- --producers 4 --workers 4 --settle-seconds 4 --keep]
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, headers as natsHeaders } from '@nats-io/transport-node';
import { signDevToken } from '@agentplane/auth';
import { natsConnectionOptions } from '@agentplane/messaging';
import { ensureDatabase, migrate } from '@agentplane/migrate';
import { startNatsCluster, type NatsCluster } from '@agentplane/nats-security';
import { AgentWorker } from '@agentplane/worker';
import { createEventsStream } from '../nats-stream.js';
import { SERVICES, freePort, migrationsDir, startApp, stopChild, type RunningApp } from '../stack.js';
import { startPgCluster, type PgCluster } from './pg.js';

const SECRET = 'chaos-secret-0123456789-abcdefghijkl';
const TENANT = 'chaos';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const now = () => Date.now();

interface Instance {
  key: string;
  /** Only its spec until its first start, which picks its port; a restart keeps the port (its url's). */
  app: RunningApp;
  env: Record<string, string>;
}

interface Fault {
  name: string;
  at: number;
  /** The first create acknowledged after the fault was injected (its recovery). */
  recoveredAt?: number;
}

interface Stats {
  acked: Map<string, string>; // idempotency key → task id
  answers: Array<{ key: string; status: number; at: number; replayed?: boolean }>;
  createOk: number[]; // timestamps of acknowledged creates
  retries: number;
  readErrors: number;
  reads: number;
  workerCompletes: Map<string, number>;
  refused: string[];
  stragglers: string[];
}

/** What a run started (apps, NATS nodes, PostgreSQL), stopped by `stopEverything()` on any way out. */
const running: Array<() => Promise<void> | void> = [];

export async function stopEverything(): Promise<void> {
  for (const f of running.splice(0).reverse()) await Promise.resolve(f()).catch(() => undefined);
}

export async function runChaos(argv: string[]): Promise<boolean> {
  const { values } = parseArgs({
    args: argv,
    options: {
      producers: { type: 'string', default: '4' },
      workers: { type: 'string', default: '4' },
      'settle-seconds': { type: 'string', default: '4' },
      keep: { type: 'boolean', default: false },
      // `npm test` counts each invariant as a test in its closing line (the jest summaries' format)
      results: { type: 'string' },
    },
  });
  const PRODUCERS = Number(values.producers);
  const WORKERS = Number(values.workers);
  const SETTLE_MS = Number(values['settle-seconds']) * 1000;
  const started = now();
  const log = (msg: string) => console.log(`chaos ${((now() - started) / 1000).toFixed(1).padStart(6)} s  ${msg}`);
  const dir = mkdtempSync(join(tmpdir(), 'agentplane-chaos-'));
  chmodSync(dir, 0o711); // PostgreSQL's own user must reach its data directory under it
  const cleanup = running;
  const failures: string[] = [];
  let passed = 0;
  const check = (ok: boolean, what: string, figure: string) => {
    console.log(`  ${ok ? 'PASS' : 'FAIL'}  ${what}: ${figure}`);
    if (!ok) failures.push(what);
    else passed++;
  };
  const writeResults = (crashed: boolean) => {
    if (!values.results) return;
    mkdirSync(dirname(values.results), { recursive: true });
    writeFileSync(values.results, JSON.stringify({ project: 'chaos', passed, failed: failures.length + (crashed ? 1 : 0), skipped: 0, suites: 1 }));
  };

  try {
    // ---- infrastructure ------------------------------------------------------------------------------------------
    const pgc: PgCluster = startPgCluster(join(dir, 'pg'), await freePort());
    cleanup.push(() => pgc.stop());
    log(`PostgreSQL of its own on port ${pgc.port}`);
    const nats: NatsCluster = await startNatsCluster({ dir: join(dir, 'nats'), size: 3, callers: ['chaos-worker', 'chaos-probe'] });
    cleanup.push(() => nats.stop());
    log(`NATS cluster: ${nats.servers}`);
    /** A connection to the cluster as one of its identities (every node in its server list). */
    const natsAs = (identity: string, name: string) => {
      const id = nats.identity(identity);
      return connect({ ...natsConnectionOptions({ servers: nats.servers, prefix: '', name, auth: { nkeySeedFile: id.seedFile, inboxPrefix: id.inboxPrefix } }), noAsyncTraces: true });
    };

    const dbUrl: Record<string, string> = {};
    for (const s of SERVICES) {
      if (!s.database) continue;
      const url = pgc.url(s.database);
      dbUrl[s.name] = url;
      await ensureDatabase(url);
      await migrate({ databaseUrl: url, dir: migrationsDir(s.name), log: () => undefined });
    }
    const common = { AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'warn', NATS_STREAM_REPLICAS: '3', DATABASE_POOL_MAX: '8', TASKS_SWEEP_INTERVAL_MS: '500', NATS_REQUEST_TIMEOUT_MS: '3000' };
    const instances: Instance[] = [];
    /** An instance up: first on a port picked free (another if that one is taken), after a fault on the same one. */
    const startInstance = async (inst: Instance) => {
      const port = inst.app.url ? Number(new URL(inst.app.url).port) : undefined;
      await startApp(inst.app.spec, inst.env, { port, timeoutMs: 60_000, spawned: (app) => (inst.app = app) });
    };
    for (const spec of SERVICES) {
      const databaseUrl = dbUrl[spec.name];
      for (const n of [1, 2]) {
        const env = { ...common, ...nats.env(spec.name), ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) };
        const inst: Instance = { key: `${spec.name}#${n}`, env, app: { spec } as RunningApp };
        instances.push(inst);
      }
    }
    // services first, the gateways last; those up are stopped however the run ends
    cleanup.push(async () => void (await Promise.all(instances.map((i) => (i.app.child ? stopChild(i.app.child) : undefined)))));
    // as a deploy does: the stream first (3 replicas), as the ops identity (services only check it), then the apps
    await createEventsStream({ ...common, ...nats.env('ops') });
    for (const inst of instances) await startInstance(inst);
    const gateways = instances.filter((i) => i.app.spec.name === 'gateway').map((i) => i.app.url);
    log(`two instances of every app are ready (${instances.length} processes); gateways ${gateways.join(', ')}`);

    // ---- tenant, agent, tokens -------------------------------------------------------------------------------------
    const admin = await signDevToken({ secret: SECRET, issuer: 'agentplane', audience: 'agentplane', tenant: TENANT, sub: 'chaos-admin', roles: ['admin'] });
    const creator = await signDevToken({ secret: SECRET, issuer: 'agentplane', audience: 'agentplane', tenant: TENANT, sub: 'producer' });
    const outsider = await signDevToken({ secret: SECRET, issuer: 'agentplane', audience: 'agentplane', tenant: 'other', sub: 'mallory', roles: ['admin'] });
    const workerToken = await signDevToken({ secret: SECRET, issuer: 'agentplane', audience: 'agentplane', tenant: TENANT, sub: 'chaos-workers', roles: ['admin'], serviceAccount: true });
    const http = async (method: string, url: string, token: string, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(url, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers }, body: body ? JSON.stringify(body) : undefined, signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      return { status: res.status, replayed: res.headers.get('idempotent-replayed') === 'true', body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    };
    // the producers' own agent: they own it, so they may create tasks under it in every rollout mode
    const agent = await http('POST', `${gateways[0]}/v1/agents`, creator, { name: 'chaos-agent' });
    if (agent.status !== 201) throw new Error(`creating the agent answered ${agent.status}: ${JSON.stringify(agent.body)}`);
    const agentId = agent.body.id as string;
    // and its registration has landed before the load starts (the workers' claims are checked against it)
    const registeredBy = now() + 30_000;
    while ((await http('GET', `${gateways[1]}/v1/agents/${agentId}`, admin)).status !== 200) {
      if (now() > registeredBy) throw new Error('the agent\'s registration did not land within 30 s');
      await sleep(100);
    }

    // ---- load ---------------------------------------------------------------------------------------------------
    const stats: Stats = { acked: new Map(), answers: [], createOk: [], retries: 0, readErrors: 0, reads: 0, workerCompletes: new Map(), refused: [], stragglers: [] };
    let producing = true;
    const producer = async (p: number) => {
      for (let i = 0; producing; i++) {
        const key = `p${p}-${i}`;
        for (let attempt = 0; ; attempt++) {
          const gw = gateways[(p + i + attempt) % gateways.length];
          try {
            const res = await http('POST', `${gw}/v1/tasks`, creator, { agentId, name: key, heartbeatTimeoutSeconds: 5, maxAttempts: 10 }, { 'idempotency-key': key });
            stats.answers.push({ key, status: res.status, at: now(), replayed: res.replayed });
            if (res.status === 201 || res.status === 200) {
              stats.acked.set(key, res.body.id as string);
              stats.createOk.push(now());
              break;
            }
            if (res.status < 500 && res.status !== 409) {
              // a client error no retry can fix: the run fails on it (the invariant below), the producer stops
              stats.refused.push(`create ${key} answered ${res.status}: ${JSON.stringify(res.body)}`);
              return;
            }
          } catch {
            stats.answers.push({ key, status: 0, at: now() });
          }
          stats.retries++;
          await sleep(Math.min(2000, 100 * 2 ** Math.min(attempt, 4)) * Math.random());
        }
        await sleep(20);
      }
    };
    const reader = async () => {
      while (producing) {
        const gw = gateways[stats.reads % gateways.length];
        try {
          const res = await http('GET', `${gw}/v1/tasks?agentId=${agentId}&limit=20`, creator);
          if (res.status !== 200) stats.readErrors++;
        } catch {
          stats.readErrors++;
        }
        stats.reads++;
        await sleep(100);
      }
    };
    const workers: AgentWorker[] = [];
    // what the workers had to report (a claim or heartbeat that failed, an end not recorded), with when
    const workerTrouble: Array<{ at: number; msg: string }> = [];
    const workerLog = { warn: (_o: object, msg: string) => void workerTrouble.push({ at: now(), msg }), error: (_o: object, msg: string) => void workerTrouble.push({ at: now(), msg }) };
    for (let w = 0; w < WORKERS; w++) {
      const nc = await natsAs('chaos-worker', `chaos-worker-${w}`);
      cleanup.push(() => nc.close());
      const worker = new AgentWorker({
        nc,
        logger: workerLog,
        token: workerToken,
        agentId,
        workerId: `w${w}`,
        concurrency: 2,
        waitMs: 2000,
        requestTimeoutMs: 3000,
        handler: async (task) => {
          await sleep(30 + Math.random() * 100);
          stats.workerCompletes.set(task.id, (stats.workerCompletes.get(task.id) ?? 0) + 1);
          return { ok: true };
        },
      });
      worker.start();
      workers.push(worker);
    }
    // A straggler: a worker that claims a task, then stalls past its lease without heartbeating (a GC pause, a
    // paused VM) and completes it afterwards with its old token, in plain JSON over NATS as any language would. The
    // task has meanwhile been retried by the sweeper and run by another worker: the stale token must be fenced.
    const stragglerNc = await natsAs('chaos-probe', 'chaos-straggler');
    cleanup.push(() => stragglerNc.close());
    const ask = async (subject: string, body: unknown) => {
      const h = natsHeaders();
      h.set('authorization', `Bearer ${workerToken}`);
      const msg = await stragglerNc.request(subject, JSON.stringify(body), { headers: h, timeout: 5_000 });
      return msg.json<{ ok: boolean; data?: { items?: Array<{ id: string; leaseToken: string }> }; error?: { code: string; details?: { reason?: string } } }>();
    };
    const straggler = async () => {
      while (producing) {
        try {
          const claimed = await ask('tasks.v1.claim', { agentId, workerId: 'straggler', max: 1 });
          const t = claimed.data?.items?.[0];
          if (t) {
            await sleep(7_000); // past its 5 s lease, without a heartbeat
            const done = await ask('tasks.v1.complete', { id: t.id, leaseToken: t.leaseToken, result: { by: 'straggler' } });
            stats.stragglers.push(done.ok ? 'accepted' : done.error?.code === 'CONFLICT' && done.error.details?.reason === 'lease_lost' ? 'fenced' : `other: ${done.error?.code}`);
          }
        } catch {
          // a fault in progress: try again
        }
        await sleep(1_000);
      }
    };
    const load = [...Array.from({ length: PRODUCERS }, (_, p) => producer(p)), reader(), reader(), straggler()];
    const loadDone = Promise.all(load).catch((err: unknown) => void stats.refused.push(`load: ${String(err)}`));
    log(`load running: ${PRODUCERS} producers over both gateways, ${WORKERS} workers (worker client, 2 at once each), 2 readers`);

    // ---- faults -----------------------------------------------------------------------------------------------------
    const faults: Fault[] = [];
    const inst = (key: string) => {
      const found = instances.find((i) => i.key === key);
      if (!found) throw new Error(`no app instance ${key}`);
      return found;
    };
    const fault = async (name: string, inject: () => Promise<void> | void, heal: () => Promise<void> | void, holdMs = 1500) => {
      await sleep(SETTLE_MS);
      const f: Fault = { name, at: now() };
      faults.push(f);
      log(`fault: ${name}`);
      await inject();
      await sleep(holdMs);
      await heal();
      log(`healed: ${name}`);
    };
    const steadyFrom = now();
    await sleep(SETTLE_MS);
    const steadyUntil = now();
    // A deploy first: each service instance stopped as an orchestrator stops it (SIGTERM) and started again, one at
    // a time, under the same load. Its queue-group twin takes the new requests and the stopping one answers those in
    // hand (its long-polls at once), so no client may see a failure: not a 503, not a dropped connection.
    const rollFrom = now();
    const readErrorsBeforeRoll = stats.readErrors;
    for (const key of instances.filter((i) => i.app.spec.name !== 'gateway').map((i) => i.key)) {
      log(`rolling restart: ${key}`);
      await stopChild(inst(key).app.child);
      await startInstance(inst(key));
    }
    const rollUntil = now();
    const rollFailed = stats.answers.filter((a) => a.at >= rollFrom && a.at <= rollUntil && a.status !== 201 && a.status !== 200);
    const rollReadErrors = stats.readErrors - readErrorsBeforeRoll;
    const rollCreates = stats.createOk.filter((t) => t >= rollFrom && t <= rollUntil).length;
    const rollWorkerTrouble = workerTrouble.filter((w) => w.at >= rollFrom && w.at <= rollUntil + 5_000).map((w) => w.msg);
    log(`rolling restart done in ${rollUntil - rollFrom} ms: ${rollCreates} creates acknowledged meanwhile`);
    for (const key of ['tasks#1', 'authz-proxy#1', 'hook-registry#1', 'workspace-installer#1', 'gateway#1']) {
      await fault(`SIGKILL ${key}`, () => void inst(key).app.child.kill('SIGKILL'), () => startInstance(inst(key)));
    }
    await fault('stop NATS node n2', () => nats.nodes[1].stop(), () => nats.nodes[1].start(), 5000);
    await fault('restart PostgreSQL (pg_ctl restart -m fast)', () => pgc.restart(), () => undefined, 0);
    await fault('SIGSTOP tasks#2 for 7 s (past a 5 s lease), then SIGCONT', () => void inst('tasks#2').app.child.kill('SIGSTOP'), () => void inst('tasks#2').app.child.kill('SIGCONT'), 7000);
    await sleep(SETTLE_MS);
    producing = false;
    await loadDone;
    const loadEnd = now();
    log(`load stopped: ${stats.acked.size} creates acknowledged, ${stats.retries} client retries`);

    // ---- drain ------------------------------------------------------------------------------------------------------
    const tasksDb = new pg.Client({ connectionString: dbUrl.tasks });
    await tasksDb.connect();
    cleanup.push(() => tasksDb.end());
    const drainDeadline = now() + 90_000;
    let open = -1;
    while (now() < drainDeadline) {
      open = Number((await tasksDb.query<{ n: string }>("SELECT count(*) AS n FROM tasks WHERE status NOT IN ('completed','failed','canceled')")).rows[0].n);
      if (open === 0) break;
      await sleep(500);
    }
    await Promise.all(workers.map((w) => w.stop()));
    log(`drained: ${open} task(s) not terminal`);

    // ---- invariants -------------------------------------------------------------------------------------------------
    console.log('\ninvariants');
    check(
      rollFailed.length === 0 && rollReadErrors === 0 && rollWorkerTrouble.length === 0 && rollCreates > 0,
      'a rolling restart (SIGTERM, one service instance at a time) fails no request: no 503, no dropped connection, no worker call lost',
      `${rollCreates} creates acknowledged during it; ${rollFailed.length} create answers failed${rollFailed.length ? ` (${[...new Set(rollFailed.map((a) => a.status))].join(', ')})` : ''}, ${rollReadErrors} reads failed, ${rollWorkerTrouble.length} worker calls failed${rollWorkerTrouble.length ? ` (${[...new Set(rollWorkerTrouble)].join('; ')})` : ''}`,
    );
    check(stats.refused.length === 0, 'no create refused with a 4xx that a retry cannot fix', stats.refused.length ? stats.refused.slice(0, 3).join('; ') : '0');
    const rows = (await tasksDb.query<{ id: string; name: string; status: string; attempt: number }>('SELECT id, name, status, attempt FROM tasks WHERE tenant_id = $1', [TENANT])).rows;
    const byName = new Map(rows.map((r) => [r.name, r]));
    const missing = [...stats.acked].filter(([key, id]) => byName.get(key)?.id !== id);
    check(missing.length === 0, 'every acknowledged create exists, with the id it was acknowledged with', `${stats.acked.size - missing.length}/${stats.acked.size}`);
    const unacked = rows.filter((r) => !stats.acked.has(r.name));
    check(unacked.length === 0 && rows.length === stats.acked.size, 'no duplicate or stray task from retries (rows = acknowledged keys)', `${rows.length} rows for ${stats.acked.size} keys`);
    const notTerminal = rows.filter((r) => !['completed', 'failed', 'canceled'].includes(r.status));
    const notCompleted = rows.filter((r) => r.status !== 'completed');
    check(notTerminal.length === 0, 'every task ended terminal', `${rows.length - notTerminal.length}/${rows.length}`);
    check(notCompleted.length === 0, 'every task completed (workers never fail a task)', `${rows.length - notCompleted.length}/${rows.length}${notCompleted.length ? ` (e.g. ${notCompleted[0].status})` : ''}`);
    const events = (
      await tasksDb.query<{ task_id: string; completed: string; last_claim: number | null; completed_attempt: number | null }>(
        `SELECT task_id,
                count(*) FILTER (WHERE type = 'completed') AS completed,
                max((data->>'attempt')::int) FILTER (WHERE type = 'claimed') AS last_claim,
                max((data->>'attempt')::int) FILTER (WHERE type = 'completed') AS completed_attempt
           FROM task_events GROUP BY task_id`,
      )
    ).rows;
    const twice = events.filter((e) => Number(e.completed) > 1);
    const stale = events.filter((e) => Number(e.completed) === 1 && e.completed_attempt !== e.last_claim);
    check(twice.length === 0, 'no task completed more than once', `${twice.length} completed twice`);
    check(stale.length === 0, 'every completion came from the current lease (its attempt is the last claim)', `${stale.length} from a superseded lease`);
    const fenced = stats.stragglers.filter((x) => x === 'fenced').length;
    check(stats.stragglers.length > 0 && fenced === stats.stragglers.length, 'a worker stalled past its lease is fenced when it completes late (409 lease_lost)', `${fenced}/${stats.stragglers.length} fenced${stats.stragglers.length === 0 ? ' (no straggler got a task)' : ''}`);
    const attempts = rows.reduce((n, r) => n + r.attempt, 0);
    console.log(`  info  attempts: ${attempts} for ${rows.length} tasks (${attempts - rows.length} retried after a lost lease); handler runs ${[...stats.workerCompletes.values()].reduce((a, b) => a + b, 0)}`);

    // A 5xx followed, for the same key, by a replayed success means the 5xx'd request had committed its write.
    const fiveXxCommitted = (status: (s: number) => boolean) => {
      // each key's first such answer, in the order the keys first got one
      const first5xx = new Map<string, number>();
      for (const a of stats.answers) if (status(a.status) && !first5xx.has(a.key)) first5xx.set(a.key, a.at);
      return [...first5xx].filter(([key, at]) => stats.answers.some((a) => a.key === key && a.at > at && a.replayed)).map(([key]) => key);
    };
    const committed500 = fiveXxCommitted((s) => s === 500);
    check(committed500.length === 0, 'no 500 answered for a create whose write committed', `${committed500.length}`);
    const unavailable = stats.answers.filter((a) => a.status === 503 || a.status === 0).length;
    const committed503 = fiveXxCommitted((s) => s === 503 || s === 0).length;
    console.log(`  info  503s and dropped connections during faults, retried with the same key: ${unavailable}; of them ${committed503} had committed (a process killed between its commit and its reply, or a reply later than the gateway's timeout): the retry was answered with the committed task`);

    // outbox drained in every service, JetStream consumer caught up, every registration applied
    let outboxLeft = -1;
    const outboxDeadline = now() + 60_000;
    while (now() < outboxDeadline) {
      outboxLeft = 0;
      for (const svc of ['tasks', 'hook-registry', 'workspace-installer']) {
        const c = new pg.Client({ connectionString: dbUrl[svc] });
        await c.connect();
        outboxLeft += Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL')).rows[0].n);
        await c.end();
      }
      if (outboxLeft === 0) break;
      await sleep(500);
    }
    check(outboxLeft === 0, 'every outbox drained', `${outboxLeft} unpublished row(s)`);
    const opsNc = await natsAs('ops', 'chaos-ops');
    cleanup.push(() => opsNc.close());
    const jsm = await jetstreamManager(opsNc);
    let pending = -1;
    const consumerDeadline = now() + 60_000;
    while (now() < consumerDeadline) {
      // authz-proxy's durable: one consumer, or one per event type on nats-server < 2.10 (`authz-proxy_<type>_<hash>`)
      const cis = (await jsm.consumers.list('EVENTS').next().catch(() => [])).filter((c) => c.name === 'authz-proxy' || c.name.startsWith('authz-proxy_'));
      pending = cis.length > 0 ? cis.reduce((n, c) => n + c.num_pending + c.num_ack_pending, 0) : -1;
      if (pending === 0) break;
      await sleep(500);
    }
    const si = await jsm.streams.info('EVENTS');
    check(pending === 0, 'the JetStream consumer caught up', `${pending} pending; stream ${si.state.messages} messages on ${si.config.num_replicas} replicas`);
    const authzDb = new pg.Client({ connectionString: dbUrl['authz-proxy'] });
    await authzDb.connect();
    cleanup.push(() => authzDb.end());
    const registered = Number(
      (await authzDb.query<{ n: string }>("SELECT count(DISTINCT resource) AS n FROM tuples WHERE relation = 'tenant' AND resource = ANY($1)", [rows.map((r) => `task:${r.id}`)])).rows[0].n,
    );
    check(registered === rows.length, 'every task registration applied', `${registered}/${rows.length}`);
    const sample = rows.filter((_, i) => i % Math.max(1, Math.floor(rows.length / 100)) === 0);
    let creatorReads = 0;
    let outsiderHidden = 0;
    for (const [i, r] of sample.entries()) {
      const gw = gateways[i % gateways.length];
      if ((await http('GET', `${gw}/v1/tasks/${r.id}`, creator)).status === 200) creatorReads++;
      if ((await http('GET', `${gw}/v1/tasks/${r.id}`, outsider)).status === 404) outsiderHidden++;
    }
    check(creatorReads === sample.length, 'the creator reads its tasks (sample)', `${creatorReads}/${sample.length}`);
    check(outsiderHidden === sample.length, 'another tenant\'s admin sees none of them (404)', `${outsiderHidden}/${sample.length}`);

    // ---- figures ----------------------------------------------------------------------------------------------------
    console.log('\nrecovery (fault → first acknowledged create after it)');
    for (const f of faults) {
      const first = stats.createOk.find((t) => t > f.at);
      f.recoveredAt = first;
      console.log(`  ${f.name.padEnd(58)} ${first ? `${first - f.at} ms` : 'never'}`);
    }
    const rate = (from: number, to: number) => (stats.createOk.filter((t) => t >= from && t < to).length / Math.max(0.001, (to - from) / 1000)).toFixed(1);
    console.log(`\nthroughput: ${rate(steadyFrom, steadyUntil)} creates/s before the faults, ${rate(steadyUntil, loadEnd)} creates/s while they ran; ${stats.reads} reads, ${stats.readErrors} failed`);
    console.log(`chaos: ${failures.length === 0 ? 'every invariant held' : `${failures.length} invariant(s) FAILED: ${failures.join('; ')}`} (${((now() - started) / 1000).toFixed(0)} s)`);
    writeResults(false);
    return failures.length === 0;
  } catch (err) {
    writeResults(true);
    throw err;
  } finally {
    await stopEverything();
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
    else console.log(`chaos: kept ${dir}`);
  }
}
