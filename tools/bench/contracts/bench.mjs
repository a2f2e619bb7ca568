#!/usr/bin/env node
// What the contracts' byte checks cost a request, each against the serialisation it rides beside, in the same run:
//  1. a list's page budget (itemsWithinBudget, issue 19 round 32) for a page of tasks, ÷ the JSON.stringify of the
//     reply that page is sent in (which every list pays anyway);
//  2. a create's parse with its contract (the request-wide walk, a Name's checks, the params' byte bound) ÷ the bare
//     zod object of the same fields (what validation costs without the checks the contract adds).
// In-process loops, CPU time (process.cpuUsage), best of --rounds; no stack. Needs libs built (npx nx run-many -t build).
//   node tools/bench/contracts/bench.mjs [--items 50] [--iterations 20000] [--rounds 5]
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { itemsWithinBudget, tasksContract } from '@agentplane/contracts';

const { values } = parseArgs({ options: { items: { type: 'string', default: '50' }, iterations: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '5' } } });
const ITEMS = Number(values.items);
const N = Number(values.iterations);
const ROUNDS = Number(values.rounds);
for (const [name, v] of [['--items', ITEMS], ['--iterations', N], ['--rounds', ROUNDS]]) if (!(Number.isInteger(v) && v >= 1)) throw new Error(`${name} must be a positive integer`);

const at = '2026-12-06T20:40:17.925Z';
const task = (i) => ({
  id: '01a24d16-0305-700b-903d-9820850f11c1', tenantId: 'acme', agentId: '01a24d15-fe52-738d-b581-bdfb4ad43aed', name: `nightly-report-${i}`,
  status: 'completed', priority: 0, params: { day: '2026-01-01', region: 'eu-west-1' }, result: { rows: 42 }, progress: null, error: null,
  attempt: 1, maxAttempts: 3, retry: { initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 60000 }, heartbeatTimeoutSeconds: 30,
  timeoutSeconds: null, workerId: 'worker-1', cancelRequested: false, creatorUserId: 'alice', creatorServiceAccountId: null,
  runAfter: at, createdAt: at, updatedAt: at, finishedAt: at,
});
const page = Array.from({ length: ITEMS }, (_, i) => task(i));
const body = { agentId: '01a24d15-fe52-738d-b581-bdfb4ad43aed', name: 'nightly-report-1', params: { day: '2026-01-01', region: 'eu-west-1', n: 3 } };
const bare = z.object({ agentId: z.uuid(), name: z.string().min(1).max(200), params: z.record(z.string(), z.unknown()) });

/** Microseconds of CPU per call of `fn`: the best of ROUNDS loops of N calls, after one loop to warm up. */
function cpuMicros(fn) {
  for (let i = 0; i < N; i++) fn();
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t = process.cpuUsage();
    for (let i = 0; i < N; i++) fn();
    const u = process.cpuUsage(t);
    best = Math.min(best, (u.user + u.system) / N);
  }
  return best;
}

if (itemsWithinBudget(page) !== ITEMS) throw new Error('the page should fit the budget whole');
if (!tasksContract.create.request.safeParse(body).success) throw new Error('the create body should pass its contract');
const budget = cpuMicros(() => itemsWithinBudget(page));
const reply = cpuMicros(() => JSON.stringify({ ok: true, data: { items: page, nextCursor: null } }));
const contract = cpuMicros(() => tasksContract.create.request.parse(body));
const schema = cpuMicros(() => bare.parse(body));
const bytes = Buffer.byteLength(JSON.stringify(page[0]));
console.log(`page budget, ${ITEMS} tasks of ${bytes} bytes: ${budget.toFixed(1)} µs; the reply's JSON.stringify ${reply.toFixed(1)} µs; ratio ${(budget / reply).toFixed(2)}`);
console.log(`create parse with its contract ${contract.toFixed(2)} µs; the bare schema ${schema.toFixed(2)} µs; ratio ${(contract / schema).toFixed(2)}`);
console.log(JSON.stringify({ bench: 'contracts', items: ITEMS, item_bytes: bytes, page_budget_us: budget, reply_stringify_us: reply, ratio_budget_over_reply: budget / reply, create_parse_us: contract, bare_parse_us: schema, ratio_contract_over_bare: contract / schema }));
