// The stack the request benchmarks and the profiler run: authz-proxy, tasks and the gateway on fresh databases and a
// secured NATS server of their own (the project's config and identities, as `npm start` runs), or the machine's
// anonymous NATS (`nats: 'open'`, how the benches ran before the bus was secured). Shared by tools/bench/tasks,
// tools/bench/lifecycle and tools/bench/profile.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { signDevToken } from '@agentplane/auth';
import { createTestDatabase } from '@agentplane/persistence';
import { freeTcpPort, startDevNats } from '@agentplane/nats-security';
import { createEventsStream } from '../dist/nats-stream.js';
import { migrationsDir, startStack } from '../dist/stack.js';

export const SECRET = 'bench-secret-0123456789-abcdefghij';
const HOOK = fileURLToPath(new URL('./profile/hook.mjs', import.meta.url));

/**
 * @param {{ nats?: 'secured' | 'open', poolMax?: string | number, callers?: string[], profileDir?: string, tasksEnv?: Record<string, string> }} [opts]
 *   profileDir: each app preloads tools/bench/profile/hook.mjs (SIGWINCH starts/stops a CPU profile written there).
 *   tasksEnv: more of tasks' environment (e.g. TASKS_AUTHZ_DECISION_CACHE=off for a before/after).
 */
export async function startBenchStack(opts = {}) {
  const mode = opts.nats ?? 'secured';
  if (!['secured', 'open'].includes(mode)) throw new Error('--nats must be secured or open');
  const poolMax = String(opts.poolMax ?? 20);
  const cleanup = [];
  const stop = async () => {
    for (const f of cleanup.splice(0).reverse()) await Promise.resolve(f()).catch(() => undefined);
  };
  try {
    const dbs = {
      tasks: await createTestDatabase({ service: 'tasks', migrationsDir: migrationsDir('tasks') }),
      'authz-proxy': await createTestDatabase({ service: 'authz-proxy', migrationsDir: migrationsDir('authz-proxy') }),
    };
    cleanup.push(() => Promise.all(Object.values(dbs).map((d) => d.drop())));
    let nats = null;
    let natsEnv = async () => ({ NATS_URL: 'nats://127.0.0.1:4222' });
    if (mode === 'secured') {
      const natsDir = mkdtempSync(join(tmpdir(), 'bench-nats-'));
      // profiling: nats-server's own Go profiler too (tools/bench/profile)
      const profPort = opts.profileDir ? await freeTcpPort() : undefined;
      nats = await startDevNats({ dir: natsDir, callers: opts.callers ?? [], ...(profPort ? { profPort } : {}) });
      cleanup.push(async () => {
        await nats.stop();
        rmSync(natsDir, { recursive: true, force: true });
      });
      natsEnv = (name) => nats.env(name);
    }
    const profile = (name) => (opts.profileDir ? { NODE_OPTIONS: `--import=${HOOK}`, CPU_PROF_DIR: opts.profileDir, CPU_PROF_NAME: name } : {});
    const prefix = mode === 'open' ? `bench_${randomBytes(3).toString('hex')}.` : '';
    // as a deploy does: the stream first, as the ops identity (services only check it)
    await createEventsStream({ NATS_SUBJECT_PREFIX: prefix, ...(await natsEnv('ops')) });
    const stack = await startStack({
      only: ['authz-proxy', 'tasks', 'gateway'],
      echo: process.env.BENCH_ECHO === '1',
      env: { NATS_SUBJECT_PREFIX: prefix, AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'warn' },
      serviceEnv: {
        tasks: { ...(await natsEnv('tasks')), DATABASE_URL: dbs.tasks.url, DATABASE_POOL_MAX: poolMax, ...profile('tasks'), ...(opts.tasksEnv ?? {}) },
        'authz-proxy': { ...(await natsEnv('authz-proxy')), DATABASE_URL: dbs['authz-proxy'].url, DATABASE_POOL_MAX: poolMax, ...profile('authz-proxy') },
        gateway: { ...(await natsEnv('gateway')), ...profile('gateway') },
      },
    });
    cleanup.push(() => stack.stop());
    const token = (sub, roles = []) => signDevToken({ secret: SECRET, issuer: 'agentplane', audience: 'agentplane', tenant: 'bench', sub, roles });
    // node:http on kept-alive connections, not fetch: the producers share the machine's two cores with the stack,
    // and undici's fetch costs several times the CPU per request (the lifecycle bench's load generator).
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    cleanup.push(() => agent.destroy());
    const post = (path, tok, body) =>
      new Promise((resolve, reject) => {
        const data = JSON.stringify(body);
        const req = http.request(`${stack.gatewayUrl}${path}`, {
          method: 'POST',
          agent,
          headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
        });
        req.on('error', reject);
        req.on('response', (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            try {
              resolve({ status: res.statusCode, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') });
            } catch (err) {
              reject(err);
            }
          });
        });
        req.end(data);
      });
    /** An agent owned by `owner` on which `grantee` holds `action` through a grant (so its requests ask authz-proxy). */
    const agentWithGrant = async (owner, grantee, action, name) => {
      const admin = await token('bench-admin', ['admin']);
      const agent = await post('/v1/agents', owner, { name });
      if (agent.status !== 201) throw new Error(`agent: ${agent.status} ${JSON.stringify(agent.body)}`);
      for (let i = 0; i < 100; i++) {
        // the agent's registration reaches authz-proxy through the outbox: retry until it is there
        const g = await post('/v1/authz/grants', admin, { subject: `user:${grantee}`, action, resource: `agent:${agent.body.id}` });
        if (g.status === 201 || g.status === 200) return agent.body; // 200: made by an earlier try whose answer was lost
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('the grant never took');
    };
    /**
     * Issue 19's two loads (taskLoads) as the benches run them: `bench-worker` writes to an agent of `agent-owner`
     * through a grant (so each create asks authz-proxy), and reads one task it created (the floor).
     */
    const grantedTaskLoads = async ({ agentName, connections, tag = randomBytes(3).toString('hex') }) => {
      const owner = await token('agent-owner');
      const worker = await token('bench-worker');
      const agent = await agentWithGrant(owner, 'bench-worker', 'write', agentName);
      const one = await post('/v1/tasks', worker, { agentId: agent.id, name: `read-${tag}` });
      if (one.status !== 201) throw new Error(`could not create the task to read: ${one.status} ${JSON.stringify(one.body)}`);
      return taskLoads({ gatewayUrl: stack.gatewayUrl, token: worker, agentId: agent.id, taskId: one.body.id, connections, tag });
    };
    return { stack, nats, dbs, mode, token, post, agentWithGrant, grantedTaskLoads, stop, cleanup };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** autocannon with these options; resolves with its result. */
export function cannon(opts) {
  return new Promise((resolve, reject) => autocannon(opts, (err, res) => (err ? reject(err) : resolve(res))));
}

/**
 * The two request loads of issue 19, as `(seconds) => autocannon result`: the floor (the creator's
 * `GET /v1/tasks/{id}` of one task) and create (`POST /v1/tasks` by `token`, a fresh Idempotency-Key each).
 */
export function taskLoads({ gatewayUrl, token, agentId, taskId, connections, tag = randomBytes(3).toString('hex') }) {
  let seq = 0;
  return {
    floor: (seconds) => cannon({ url: `${gatewayUrl}/v1/tasks/${taskId}`, connections, duration: seconds, headers: { authorization: `Bearer ${token}` } }),
    create: (seconds) =>
      cannon({
        url: `${gatewayUrl}/v1/tasks`,
        connections,
        duration: seconds,
        requests: [
          {
            method: 'POST',
            setupRequest: (req) => {
              const n = ++seq;
              return {
                ...req,
                headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': `bench-${tag}-${n}` },
                body: JSON.stringify({ agentId, name: `t-${tag}-${n}`, params: { n } }),
              };
            },
          },
        ],
      }),
  };
}
