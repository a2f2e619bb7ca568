#!/usr/bin/env node
// Authz check benchmark (issue 5): p50/p99 latency and req/s of `authz.v1.check` over NATS against the built
// authz-proxy, vs a baseline answered over the same NATS path by a raw responder running one indexed SQL membership
// lookup (baseline-responder.mjs) — same run, same database, same load generator, interleaved rounds.
// Needs the built app and libs: `npx nx run authz-proxy:build && npm run build -w @agentplane/migrate`.
//   node tools/bench/authz/bench.mjs [--tuples 100000] [--concurrency 8] [--seconds 10] [--rounds 2] [--pool 10]
// BENCH_APP_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' profiles the authz-proxy process.
import { fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { connect, headers as natsHeaders } from '@nats-io/transport-node';
import pg from 'pg';
import { dropDatabase, ensureDatabase, migrate } from '@agentplane/migrate';
import { signDevToken } from '@agentplane/auth';

const { values } = parseArgs({
  options: {
    tuples: { type: 'string', default: '100000' },
    concurrency: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    pool: { type: 'string', default: '10' },
    server: { type: 'string', default: 'postgresql://postgres@127.0.0.1:5432' },
    nats: { type: 'string', default: 'nats://127.0.0.1:4222' },
  },
});
const TUPLES = Number(values.tuples);
const CONCURRENCY = Number(values.concurrency);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const tag = randomBytes(4).toString('hex');
const DB_URL = `${values.server}/ap_bench_authz_${tag}_test`;
const PREFIX = `bench_authz_${tag}.`;
const AUTH = { secret: 'bench-secret-0123456789-abcdefghij', issuer: 'agentplane', audience: 'agentplane' };
const TENANTS = 20;
const USERS = 200; // per tenant
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Per tenant: agents owned by users, 15 tasks per agent (tenant + owner + parent tuples), one `read` grant per agent
 * to another user — about 5 + 15×3 = 50 tuples per agent, so agents = tuples / 50.
 */
async function load(c) {
  const t0 = Date.now();
  const agents = Math.ceil(TUPLES / 50);
  await c.query(`
    INSERT INTO tuples (resource, relation, subject, tenant_id, resource_type)
    SELECT 'agent:' || a, r.relation, r.subject, 't' || (a % ${TENANTS}), 'agent'
      FROM generate_series(1, $1) a
      CROSS JOIN LATERAL (VALUES ('tenant', 'tenant:t' || (a % ${TENANTS})),
                                 ('owner', 'user:u' || (a % ${USERS})),
                                 ('read', 'user:u' || ((a + 7) % ${USERS})),
                                 ('write', 'user:u' || ((a + 13) % ${USERS})),
                                 ('admin', 'user:u' || ((a + 29) % ${USERS}))) r(relation, subject)`, [agents]);
  await c.query(`
    INSERT INTO tuples (resource, relation, subject, tenant_id, resource_type)
    SELECT 'task:' || a || '-' || k, r.relation, r.subject, 't' || (a % ${TENANTS}), 'task'
      FROM generate_series(1, $1) a, generate_series(1, 15) k
      CROSS JOIN LATERAL (VALUES ('tenant', 'tenant:t' || (a % ${TENANTS})),
                                 ('parent', 'agent:' || a),
                                 ('owner', 'user:u' || ((a * 15 + k) % ${USERS}))) r(relation, subject)`, [agents]);
  await c.query('VACUUM ANALYZE tuples');
  const { rows } = await c.query('SELECT count(*)::int AS n FROM tuples');
  console.log(`setup: ${rows[0].n.toLocaleString('en')} tuples (${agents.toLocaleString('en')} agents × 15 tasks, ${TENANTS} tenants) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return agents;
}

function waitReady(url, child, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  return (async () => {
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`authz-proxy exited with ${child.exitCode}`);
      try {
        if ((await fetch(`${url}/readyz`)).ok) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error('authz-proxy did not become ready');
  })();
}

/**
 * A mix of checks by users of the resource's tenant: a third by the task's owner (owner), a third by the agent's
 * `read` grantee on a task (grant inherited through the parent), a third by a random user (mostly denied after the
 * whole parent walk). The baseline answers the same (resource, subject) pair with its one-row membership lookup.
 */
function makeRequests(agents, tokens) {
  return Array.from({ length: 20_000 }, (_, i) => {
    const a = 1 + Math.floor(Math.random() * agents);
    const k = 1 + Math.floor(Math.random() * 15);
    const tenant = a % TENANTS;
    const resource = `task:${a}-${k}`;
    const [user, action] = [
      [(a * 15 + k) % USERS, 'cancel'],
      [(a + 7) % USERS, 'read'],
      [Math.floor(Math.random() * USERS), 'write'],
    ][i % 3];
    return { token: tokens[tenant][user], body: JSON.stringify({ action, resource }), baseline: JSON.stringify({ resource, subject: `user:u${user}` }) };
  });
}

async function run(nc, subject, requests, which, seconds) {
  const latencies = [];
  let errors = 0;
  let allowed = 0;
  let i = 0;
  const end = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const r = requests[i++ % requests.length];
      const h = natsHeaders();
      h.set('authorization', `Bearer ${r.token}`);
      const start = performance.now();
      try {
        const msg = await nc.request(subject, which === 'authz' ? r.body : r.baseline, { headers: h, timeout: 5000 });
        const env = msg.json();
        if (!env.ok) errors++;
        else if (env.data.allowed) allowed++;
      } catch {
        errors++;
      }
      latencies.push(performance.now() - start);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { latencies, errors, allowed, wallMs: performance.now() - t0 };
}

function summarise(results) {
  const lat = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  const wall = results.reduce((s, r) => s + r.wallMs, 0);
  return {
    n: lat.length,
    p50: q(0.5),
    p99: q(0.99),
    rps: (lat.length / wall) * 1000,
    errors: results.reduce((s, r) => s + r.errors, 0),
    allowedPct: (100 * results.reduce((s, r) => s + r.allowed, 0)) / lat.length,
  };
}

const children = [];
let nc;
try {
  await ensureDatabase(DB_URL);
  await migrate({ databaseUrl: DB_URL, dir: path.join(ROOT, 'prisma/authz-proxy/migrations'), log: () => undefined });
  const c = new pg.Client({ connectionString: DB_URL });
  await c.connect();
  const agents = await load(c);
  await c.end();

  const env = {
    ...process.env,
    DATABASE_URL: DB_URL,
    DATABASE_POOL_MAX: values.pool,
    NATS_URL: values.nats,
    NATS_SUBJECT_PREFIX: PREFIX,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    AUTH_JWT_SECRET: AUTH.secret,
    AUTH_JWT_ISSUER: AUTH.issuer,
    AUTH_JWT_AUDIENCE: AUTH.audience,
    AUTHZ_EVENTS: 'off',
    LOG_LEVEL: 'warn',
  };
  const port = 30000 + Math.floor(Math.random() * 20000);
  const app = spawn(process.execPath, [...(process.env.BENCH_APP_NODE_ARGS ? process.env.BENCH_APP_NODE_ARGS.split(' ') : []), path.join(ROOT, 'apps/authz-proxy/dist/main.js')], { env: { ...env, HTTP_PORT: String(port) }, stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(app);
  const baseline = fork(path.join(ROOT, 'tools/bench/authz/baseline-responder.mjs'), [], {
    env: { ...env, SUBJECT: `${PREFIX}bench.v1.member`, POOL_MAX: values.pool },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(baseline);
  await Promise.all([waitReady(`http://127.0.0.1:${port}`, app), new Promise((r) => baseline.once('message', r))]);

  const tokens = await Promise.all(
    Array.from({ length: TENANTS }, (_, t) => Promise.all(Array.from({ length: USERS }, (_, u) => signDevToken({ ...AUTH, tenant: `t${t}`, sub: `u${u}`, expiresIn: 3600 })))),
  );
  const requests = makeRequests(agents, tokens);
  nc = await connect({ servers: values.nats, name: 'authz-bench-load' });
  const targets = { authz: `${PREFIX}authz.v1.check`, baseline: `${PREFIX}bench.v1.member` };

  // Warm up both (JIT, prepared statements on every pooled connection, page cache).
  for (const which of ['baseline', 'authz']) await run(nc, targets[which], requests, which, 3);
  const results = { authz: [], baseline: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const which of round % 2 === 0 ? ['baseline', 'authz'] : ['authz', 'baseline']) {
      results[which].push(await run(nc, targets[which], requests, which, SECONDS / ROUNDS));
    }
  }
  const a = summarise(results.authz);
  const b = summarise(results.baseline);
  const row = (name, s) =>
    `| ${name} | ${s.n.toLocaleString('en')} | ${s.p50.toFixed(3)} ms | ${s.p99.toFixed(3)} ms | ${Math.round(s.rps).toLocaleString('en')} | ${s.errors} | ${s.allowedPct.toFixed(1)}% |`;
  console.log(`\nconcurrency ${CONCURRENCY}, ${SECONDS} s per target in ${ROUNDS} interleaved rounds, pool ${values.pool}\n`);
  console.log('| target | requests | p50 | p99 | req/s | errors | allowed |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  console.log(row('authz.v1.check (authz-proxy)', a));
  console.log(row('baseline: raw responder, one indexed SELECT', b));
  console.log(`\np50 ratio ${(a.p50 / b.p50).toFixed(2)} (target ≤ 2.0), p99 ratio ${(a.p99 / b.p99).toFixed(2)} (target ≤ 3.0), throughput ratio ${(a.rps / b.rps).toFixed(2)}`);
  // The figures at full precision, for tools/bench/run-all.mjs (which judges the targets on these, not on the text).
  console.log(JSON.stringify({ bench: 'authz', p50_ratio: a.p50 / b.p50, p99_ratio: a.p99 / b.p99, throughput_ratio: a.rps / b.rps, errors: a.errors + b.errors }));
  if (a.errors > 0 || b.errors > 0) process.exitCode = 1;
} finally {
  await nc?.drain().catch(() => undefined);
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((child) => (child.exitCode === null ? new Promise((r) => child.once('exit', r)) : undefined)));
  await dropDatabase(DB_URL).catch((err) => console.error(`could not drop ${DB_URL}: ${err.message}`));
}
