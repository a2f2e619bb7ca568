#!/usr/bin/env node
// Tasks benchmark (issue 6), every figure against a baseline measured in the same run:
//  1. end-to-end create-task req/s through the gateway — JWT auth, authz check (`write` on the agent, granted, so
//     authz-proxy answers it), a fresh Idempotency-Key per request, the task row + outbox event in one transaction —
//     ÷ pgbench single-row INSERT TPS (prepared, like the stack's statements) at the same concurrency (target ≥ 0.25,
//     0 errors, p99 ≤ 10 × p50);
//  2. Prisma `task.create` p50 ÷ raw `pg` INSERT p50 of the same row, sequential, one process (target ≤ 1.3).
// Needs the apps and tools built:  npx nx run-many -t build -p gateway tasks authz-proxy tools
//   node tools/bench/tasks/bench.mjs [--seconds 10] [--connections 16] [--inserts 3000]
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { signDevToken } from '@agentplane/auth';
import { SqlPool, createTestDatabase, createPrismaClient } from '@agentplane/persistence';
import { startDevNats } from '@agentplane/nats-security';
import { PrismaClient } from '@agentplane/db-tasks';
import { migrationsDir, startStack } from '../../dist/stack.js';
import { cpuPerRequest, cpuSnapshot, formatCpu } from '../cpu.mjs';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    inserts: { type: 'string', default: '3000' },
    'pool-max': { type: 'string', default: '20' },
    // secured (default): a NATS server of the bench's own with the project's config and identities, as the stack runs;
    // open: the machine's anonymous NATS on 4222 (how the bench ran before the bus was secured), for a before/after.
    nats: { type: 'string', default: 'secured' },
  },
});
const SECONDS = Number(values.seconds);
const C = Number(values.connections);
const INSERTS = Number(values.inserts);
const SECRET = 'bench-secret-0123456789-abcdefghij';
const run = randomBytes(3).toString('hex');
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

const dbs = {
  tasks: await createTestDatabase({ service: 'tasks', migrationsDir: migrationsDir('tasks') }),
  'authz-proxy': await createTestDatabase({ service: 'authz-proxy', migrationsDir: migrationsDir('authz-proxy') }),
};
const cleanup = [];
try {
  // ---- 1. through the gateway vs pgbench --------------------------------------------------------------------------
  if (!['secured', 'open'].includes(values.nats)) throw new Error('--nats must be secured or open');
  let natsEnv = () => ({ NATS_URL: 'nats://127.0.0.1:4222' });
  if (values.nats === 'secured') {
    const natsDir = mkdtempSync(join(tmpdir(), 'bench-tasks-nats-'));
    const nats = await startDevNats({ dir: natsDir });
    cleanup.push(() => nats.stop());
    natsEnv = (name) => nats.env(name);
  }
  console.log(`NATS: ${values.nats}`);
  const stack = await startStack({
    only: ['authz-proxy', 'tasks', 'gateway'],
    env: { NATS_SUBJECT_PREFIX: values.nats === 'open' ? `bench_tasks_${run}.` : '', AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'warn' },
    serviceEnv: {
      tasks: { ...(await natsEnv('tasks')), DATABASE_URL: dbs.tasks.url, DATABASE_POOL_MAX: values['pool-max'] },
      'authz-proxy': { ...(await natsEnv('authz-proxy')), DATABASE_URL: dbs['authz-proxy'].url, DATABASE_POOL_MAX: values['pool-max'] },
      gateway: await natsEnv('gateway'),
    },
  });
  cleanup.push(() => stack.stop());
  const tok = (sub, roles = []) => signDevToken({ secret: SECRET, issuer: 'agentplane', audience: 'agentplane', tenant: 'bench', sub, roles });
  const owner = await tok('agent-owner');
  const admin = await tok('bench-admin', ['admin']);
  const worker = await tok('bench-worker');
  const post = async (path, token, body) => {
    const res = await fetch(`${stack.gatewayUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };
  const agent = (await post('/v1/agents', owner, { name: 'bench-agent' })).body;
  // the worker may write to the agent through a grant (so each create asks authz-proxy), once the agent is registered
  for (let i = 0; i < 100; i++) {
    const g = await post('/v1/authz/grants', admin, { subject: 'user:bench-worker', action: 'write', resource: `agent:${agent.id}` });
    if (g.status === 201) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  let seq = 0;
  const load = (seconds) =>
    new Promise((resolve, reject) => {
      autocannon(
        {
          url: `${stack.gatewayUrl}/v1/tasks`,
          connections: C,
          duration: seconds,
          requests: [
            {
              method: 'POST',
              setupRequest: (req) => {
                const n = ++seq;
                return {
                  ...req,
                  headers: { authorization: `Bearer ${worker}`, 'content-type': 'application/json', 'idempotency-key': `bench-${run}-${n}` },
                  body: JSON.stringify({ agentId: agent.id, name: `t-${run}-${n}`, params: { n } }),
                };
              },
            },
          ],
        },
        (err, res) => (err ? reject(err) : resolve(res)),
      );
    });
  await load(2); // warm-up: pools, JIT, prepared statements
  const cpuBefore = cpuSnapshot(stack);
  const e2e = await load(SECONDS);
  const cpu = cpuPerRequest(cpuBefore, cpuSnapshot(stack), e2e.requests.total);
  const errors = e2e.errors + e2e.timeouts + e2e.non2xx;
  // The floor of this architecture: the cheapest request that crosses the same processes — the creator reading one
  // of its tasks (gateway → NATS → tasks → one indexed SELECT → back; the creator is recognised from the row, so no
  // authz round trip). No create can go faster than this.
  const one = await post('/v1/tasks', worker, { agentId: agent.id, name: `read-${run}` });
  if (one.status !== 201) throw new Error(`could not create the task to read: ${one.status} ${JSON.stringify(one.body)}`);
  const read = await new Promise((resolve, reject) =>
    autocannon(
      { url: `${stack.gatewayUrl}/v1/tasks/${one.body.id}`, connections: C, duration: SECONDS, headers: { authorization: `Bearer ${worker}` } },
      (err, res) => (err ? reject(err) : resolve(res)),
    ),
  );
  const readErrors = read.errors + read.timeouts + read.non2xx;
  await stack.stop();
  cleanup.pop();

  const scratch = await createTestDatabase({ service: 'tasks', migrationsDir: migrationsDir('tasks') });
  cleanup.push(() => scratch.drop());
  const c0 = new pg.Client({ connectionString: scratch.url });
  await c0.connect();
  await c0.query("INSERT INTO agents (id, tenant_id, name) VALUES ('00000000-0000-4000-8000-000000000001', 'bench', 'a')");
  await c0.end();
  const dir = mkdtempSync(join(tmpdir(), 'bench-tasks-'));
  const script = join(dir, 'insert.sql');
  writeFileSync(
    script,
    "INSERT INTO tasks (id, tenant_id, agent_id, name, params, creator_user_id) VALUES (gen_random_uuid(), 'bench', '00000000-0000-4000-8000-000000000001', md5(random()::text || clock_timestamp()::text), '{}', 'bench-worker');\n",
  );
  const url = new URL(scratch.url);
  const out = execFileSync('pgbench', ['-n', '-M', 'prepared', '-c', String(C), '-j', '2', '-T', String(SECONDS), '-f', script, '-h', url.hostname, '-p', url.port || '5432', '-U', 'postgres', scratch.name], {
    encoding: 'utf8',
  });
  const pgTps = Number(/tps = ([\d.]+)/.exec(out)?.[1]);

  // ---- 2. Prisma vs raw pg, one row at a time ------------------------------------------------------------------
  const prisma = createPrismaClient(PrismaClient, { url: scratch.url, poolMax: 1 });
  const raw = new pg.Client({ connectionString: scratch.url });
  await raw.connect();
  const sql = new SqlPool({ url: scratch.url, max: 1 });
  const times = { prisma: [], pg: [], sqlpool: [] };
  const agentId = '00000000-0000-4000-8000-000000000001';
  for (let i = 0; i < INSERTS + 200; i++) {
    const order = [['prisma', 'pg', 'sqlpool'], ['pg', 'sqlpool', 'prisma'], ['sqlpool', 'prisma', 'pg']][i % 3];
    for (const which of order) {
      const id = randomUUID();
      const name = `${which}-${run}-${i}`;
      const t = process.hrtime.bigint();
      if (which === 'prisma') {
        await prisma.task.create({ data: { id, tenantId: 'bench', agentId, name, params: {}, creatorUserId: 'bench-worker' } });
      } else if (which === 'sqlpool') {
        // the tasks service's own insert path (TasksRepository.insert): SqlPool, plain pg under a pool
        await sql.$queryRaw`INSERT INTO tasks (id, tenant_id, agent_id, name, params, creator_user_id) VALUES (${id}::uuid, ${'bench'}, ${agentId}::uuid, ${name}, ${'{}'}::jsonb, ${'bench-worker'}) RETURNING *`;
      } else {
        // Prepared (named), as the service's own statements and Prisma's are (libs/persistence): like for like.
        await raw.query({
          name: 'bench_insert',
          text: 'INSERT INTO tasks (id, tenant_id, agent_id, name, params, creator_user_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *',
          values: [id, 'bench', agentId, name, {}, 'bench-worker'],
        });
      }
      if (i >= 200) times[which].push(Number(process.hrtime.bigint() - t) / 1e6); // the first 200 warm up
    }
  }
  await raw.end();
  await sql.end();
  await prisma.$disconnect();
  for (const t of Object.values(times)) t.sort((a, b) => a - b);

  const rps = e2e.requests.average;
  const p50 = e2e.latency.p50;
  const p99 = e2e.latency.p99;
  const summary = {
    bench: 'tasks',
    connections: C,
    seconds: SECONDS,
    e2e_create_rps: Math.round(rps),
    e2e_p50_ms: p50,
    e2e_p99_ms: p99,
    e2e_errors: errors,
    pgbench_insert_tps: Math.round(pgTps),
    floor_read_rps: Math.round(read.requests.average),
    floor_read_errors: readErrors,
    ratio_floor_read_over_pgbench: read.requests.average / pgTps,
    ratio_e2e_over_pgbench: rps / pgTps,
    p99_over_p50: p99 / p50,
    prisma_create_p50_ms: pct(times.prisma, 50),
    pg_insert_p50_ms: pct(times.pg, 50),
    ratio_prisma_over_pg_p50: pct(times.prisma, 50) / pct(times.pg, 50),
    sqlpool_insert_p50_ms: pct(times.sqlpool, 50),
    ratio_sqlpool_over_pg_p50: pct(times.sqlpool, 50) / pct(times.pg, 50),
    cpu_ms_per_create: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, Number(v.toFixed(2))])),
  };
  console.log(`tasks bench: ${C} connections, ${SECONDS} s`);
  console.log(`create through the gateway  ${rps.toFixed(0)} req/s   p50 ${p50} ms   p99 ${p99} ms   errors ${errors}`);
  console.log(`pgbench single-row INSERT   ${pgTps.toFixed(0)} tps`);
  console.log(`floor: GET /v1/tasks/{id} by its creator through the gateway  ${read.requests.average.toFixed(0)} req/s   p50 ${read.latency.p50} ms   errors ${readErrors}   (÷ pgbench ${summary.ratio_floor_read_over_pgbench.toFixed(3)}: no create through these processes can beat it)`);
  console.log(`ratio gateway ÷ pgbench: ${summary.ratio_e2e_over_pgbench.toFixed(3)} (target ≥ 0.25) ${summary.ratio_e2e_over_pgbench >= 0.25 ? 'PASS' : 'FAIL'}`);
  console.log(`p99 ÷ p50: ${summary.p99_over_p50.toFixed(1)} (target ≤ 10) ${summary.p99_over_p50 <= 10 ? 'PASS' : 'FAIL'}; errors ${errors} (target 0) ${errors === 0 ? 'PASS' : 'FAIL'}`);
  console.log(`Prisma create p50 ${summary.prisma_create_p50_ms.toFixed(3)} ms ÷ raw pg INSERT p50 ${summary.pg_insert_p50_ms.toFixed(3)} ms = ${summary.ratio_prisma_over_pg_p50.toFixed(3)} (target ≤ 1.3) ${summary.ratio_prisma_over_pg_p50 <= 1.3 ? 'PASS' : 'FAIL'}`);
  console.log(`service's insert (SqlPool) p50 ${summary.sqlpool_insert_p50_ms.toFixed(3)} ms ÷ raw pg INSERT p50 = ${summary.ratio_sqlpool_over_pg_p50.toFixed(3)} (what tasks runs since it left Prisma's ORM on this path)`);
  console.log(`CPU per create through the gateway: ${formatCpu(cpu, rps, cpus().length)}`);
  console.log(JSON.stringify(summary));
} finally {
  for (const f of cleanup.reverse()) await f().catch(() => undefined);
  await Promise.all(Object.values(dbs).map((d) => d.drop().catch(() => undefined)));
}
