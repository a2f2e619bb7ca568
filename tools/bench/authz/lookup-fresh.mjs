#!/usr/bin/env node
// Lookup freshness and cost (DESIGN §3, docs/operations.md "Fresh resources"), against a running stack (`npm start`).
// In a new tenant in `enforce`: each round an admin creates an agent, grants a reader `read` on it and creates a task
// under it, then the reader looks up its readable tasks and the admin its agents at once; it counts how many of the
// new resources those lookups listed. Then it times lookups of the reader's tasks once they have settled.
//   node tools/bench/authz/lookup-fresh.mjs [--gateway http://127.0.0.1:3000] [--rounds 20] [--lookups 200]
// Prints one JSON line. Run it against two checkouts' stacks in turn to compare (the figures depend on the machine).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    gateway: { type: 'string', default: 'http://127.0.0.1:3000' },
    rounds: { type: 'string', default: '20' },
    lookups: { type: 'string', default: '200' },
  },
});
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const ROUNDS = Number(values.rounds);
const LOOKUPS = Number(values.lookups);

/** A development token, as the README's `npm run token` makes it (the stack's own issuer). */
const token = (tenant, sub, roles) =>
  execFileSync('npm', ['run', '-s', 'token', '--', '--tenant', tenant, '--sub', sub, ...(roles ? ['--roles', roles] : [])], { cwd: ROOT }).toString().trim();

async function call(method, url, bearer, body) {
  const res = await fetch(values.gateway + url, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = res.status === 204 ? null : await res.json();
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const quantile = (xs, q) => Number(xs.slice().sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))].toFixed(2));

const tenant = `lookup-bench-${Date.now()}`;
const admin = token(tenant, 'admin', 'admin');
const reader = token(tenant, 'reader');
await call('PUT', `/v1/authz/tenants/${tenant}/mode`, admin, { mode: 'enforce' });
let agentsListed = 0;
let tasksListed = 0;
for (let i = 0; i < ROUNDS; i++) {
  const agent = await call('POST', '/v1/agents', admin, { name: `agent-${i}` });
  await call('POST', '/v1/authz/grants', admin, { subject: 'user:reader', action: 'read', resource: `agent:${agent.id}` });
  const task = await call('POST', '/v1/tasks', admin, { agentId: agent.id, name: `task-${i}` });
  const [tasks, agents] = await Promise.all([
    call('GET', '/v1/authz/lookup?action=read&type=task&limit=500', reader),
    call('GET', '/v1/authz/lookup?action=read&type=agent&limit=500', admin),
  ]);
  if (tasks.items.includes(`task:${task.id}`)) tasksListed++;
  if (agents.items.includes(`agent:${agent.id}`)) agentsListed++;
}
await new Promise((r) => setTimeout(r, 1_000));
const ms = [];
for (let i = 0; i < LOOKUPS; i++) {
  const t0 = performance.now();
  await call('GET', '/v1/authz/lookup?action=read&type=task&limit=500', reader);
  ms.push(performance.now() - t0);
}
console.log(JSON.stringify({
  bench: 'authz-lookup-fresh',
  tenant,
  freshAgentsListedToAdmin: `${agentsListed}/${ROUNDS}`,
  freshTasksListedToReader: `${tasksListed}/${ROUNDS}`,
  settledLookupMs: { p50: quantile(ms, 0.5), p99: quantile(ms, 0.99), n: LOOKUPS },
}));
