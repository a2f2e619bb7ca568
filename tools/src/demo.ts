/**
 * `npm run demo`: the whole product, step by step, through the gateway of a running stack (`npm start`).
 *   npm run demo [-- --url http://127.0.0.1:3000] [--ci-key .dev/ci-issuer.pem] [--tenant <name>]
 * Tokens: a tenant admin signed with the primary HS256 secret (AUTH_JWT_SECRET, default the development secret),
 * and a CI machine token signed with the development extra issuer's Ed25519 key that `npm start` trusts.
 * Every run uses a new tenant (`demo-<random>`), so it can run again and again against the same stack.
 * Exits 1 at the first step whose result is not what it should be.
 */
import { createHash, randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { DEV_JWT_SECRET, signDevToken } from '@agentplane/auth';
import { DEV_CI_KEY_FILE, loadDevIssuer } from './dev-issuer.js';

/** Every reply field the demo reads, all optional: a reply is unknown JSON until each step checks it. */
interface Body {
  id?: string;
  tenantId?: string;
  name?: string;
  status?: string;
  kind?: string;
  creatorUserId?: string | null;
  parentId?: string | null;
  items?: Body[];
  error?: { code?: string };
  changed?: boolean;
  created?: boolean;
  convention?: { updatedBy?: string };
  release?: { version?: number; digest?: string; config?: unknown; sourceRef?: string; builtBy?: string };
  liveVersion?: number;
  runId?: string;
  ids?: string[];
  output?: { id?: string };
  run?: { id?: string; status?: string };
  hook?: { name?: string; liveVersion?: number };
  plugin?: string;
  platformAgentId?: string;
  reparented?: number;
  allowlistMoved?: number;
  lastHeartbeatAt?: string | null;
  leaseToken?: string;
  attempt?: number;
  workerId?: string | null;
  cancelRequested?: boolean;
  result?: unknown;
  type?: string;
  text?: string;
}
interface Reply {
  status: number;
  body: Body;
  headers: Headers;
}

class StepFailed extends Error {}

export interface DemoOptions {
  url: string;
  ciKeyFile: string;
  secret: string;
  issuer: string;
  audience: string;
  tenant?: string;
  log?: (line: string) => void;
}

export interface DemoSummary {
  tenant: string;
  steps: number;
}

export async function runDemo(opts: DemoOptions): Promise<DemoSummary> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const run = randomBytes(3).toString('hex');
  const tenant = opts.tenant ?? `demo-${run}`;
  const base = opts.url.replace(/\/+$/, '');
  let stepNo = 0;
  const facts: string[] = [];

  const step = async <T>(title: string, fn: () => Promise<T>): Promise<T> => {
    stepNo += 1;
    log(`\n[${String(stepNo).padStart(2)}] ${title}`);
    return fn();
  };
  const expect = (ok: boolean, what: string, got?: unknown) => {
    if (!ok) {
      log(`     ✗ ${what}${got === undefined ? '' : ` — got ${JSON.stringify(got)}`}`);
      throw new StepFailed(what);
    }
    log(`     ✓ ${what}`);
  };
  const call = async (method: string, path: string, token: string | undefined, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> => {
    const h: Record<string, string> = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      log(`     ✗ ${method} ${path}: ${err instanceof Error ? (err.cause as Error | undefined)?.message ?? err.message : String(err)}`);
      throw new StepFailed(`cannot reach ${base}: is the stack up (npm start)?`);
    }
    const text = await res.text();
    let parsed: Body = {};
    try {
      parsed = text ? (JSON.parse(text) as Body) : {};
    } catch {
      parsed = { text };
    }
    const extra = res.headers.get('idempotent-replayed') ? '  Idempotent-Replayed: true' : '';
    log(`     → ${method} ${path} → ${res.status}${extra}`);
    return { status: res.status, body: parsed, headers: res.headers };
  };
  // the → line already shows the status; only a wrong one is worth a line of its own
  const expectStatus = (r: Reply, status: number) => {
    if (r.status !== status) expect(false, `HTTP ${status}`, { status: r.status, body: r.body });
  };

  log(`Agentplane demo against ${base} — tenant "${tenant}"`);

  const tokens = await step('Mint tokens: a tenant admin (primary HS256 issuer) and a CI machine credential (extra EdDSA issuer)', async () => {
    const admin = await signDevToken({ secret: opts.secret, issuer: opts.issuer, audience: opts.audience, tenant, sub: 'alice', roles: ['admin'] });
    const dev = loadDevIssuer(opts.ciKeyFile);
    const ci = await new SignJWT({ tid: tenant, scope: 'conventions:write hooks:write' })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
      .setIssuer(dev.config.issuer)
      .setAudience(dev.config.audience)
      .setSubject('ci-pipeline')
      .setIssuedAt()
      .setExpirationTime('15m')
      .sign(dev.privateKey);
    log(`     admin: user "alice", roles [admin], tenant "${tenant}"`);
    log(`     ci:    service account "ci-pipeline" of ${dev.config.issuer}, scopes conventions:write hooks:write (key ${dev.keyFile})`);
    const ready = await call('GET', '/readyz', undefined);
    expectStatus(ready, 200);
    return { admin, ci };
  });

  const agent = await step('Create an agent', async () => {
    const r = await call('POST', '/v1/agents', tokens.admin, { name: 'builder' });
    expectStatus(r, 201);
    expect(r.body.tenantId === tenant && r.body.name === 'builder', `agent ${r.body.id} in tenant ${tenant}`, r.body);
    return { id: String(r.body.id) };
  });

  const task = await step('Create a task with an Idempotency-Key, then retry it with the same key', async () => {
    const key = `demo-${run}-task-1`;
    const body = { agentId: agent.id, name: 'compile', params: { target: 'linux-amd64' } };
    const first = await call('POST', '/v1/tasks', tokens.admin, body, { 'idempotency-key': key });
    expectStatus(first, 201);
    expect(first.body.status === 'pending' && first.body.creatorUserId === 'alice', `task ${first.body.id} pending, creatorUserId "alice"`, first.body);
    const retry = await call('POST', '/v1/tasks', tokens.admin, body, { 'idempotency-key': key });
    expectStatus(retry, 201);
    expect(retry.headers.get('idempotent-replayed') === 'true', 'the retry carries Idempotent-Replayed: true', retry.headers.get('idempotent-replayed'));
    expect(retry.body.id === first.body.id, 'the retry returns the same task (no second task created)', retry.body.id);
    return { id: String(first.body.id) };
  });

  await step('Create a second task and cancel it', async () => {
    const created = await call('POST', '/v1/tasks', tokens.admin, { agentId: agent.id, name: 'deploy' });
    expectStatus(created, 201);
    const canceled = await call('POST', `/v1/tasks/${created.body.id}/cancel`, tokens.admin);
    expectStatus(canceled, 200);
    expect(canceled.body.status === 'canceled', 'status canceled', canceled.body.status);
    const again = await call('POST', `/v1/tasks/${created.body.id}/cancel`, tokens.admin);
    expect(again.status === 409 && again.body.error?.code === 'CONFLICT', 'cancelling it again is 409 CONFLICT (already terminal)', again.body);
    const list = await call('GET', `/v1/tasks?agentId=${agent.id}`, tokens.admin);
    expectStatus(list, 200);
    const items = list.body.items ?? [];
    const statuses = Object.fromEntries(items.map((t) => [t.name, t.status]));
    expect(statuses.compile === 'pending' && statuses.deploy === 'canceled' && items.length === 2, 'the agent has 2 tasks: compile pending, deploy canceled', statuses);
    facts.push(`agent ${agent.id}: 2 tasks (1 replayed create, 1 canceled)`);
  });

  await step('A worker (the CI service account, granted execute on the agent) claims the compile task, reports progress, completes it', async () => {
    // the agent's authz registration rides the outbox: a grant on it waits (briefly) until it has landed
    let grant: Reply;
    for (let tries = 0; ; tries++) {
      grant = await call('POST', '/v1/authz/grants', tokens.admin, { subject: 'service_account:ci-pipeline', action: 'execute', resource: `agent:${agent.id}` });
      if (grant.status === 201 || tries >= 50) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expectStatus(grant, 201);
    const claimed = await call('POST', `/v1/agents/${agent.id}/claims`, tokens.ci, { workerId: 'demo-worker', waitMs: 5_000 });
    expectStatus(claimed, 200);
    const item = claimed.body.items?.[0];
    expect(item?.id === task.id && item.status === 'running' && item.attempt === 1 && !!item.leaseToken, `claimed task ${task.id}: running, attempt 1, with a lease token`, claimed.body);
    const beat = await call('POST', `/v1/tasks/${task.id}/heartbeat`, tokens.ci, { leaseToken: item?.leaseToken, progress: { pct: 50 } });
    expectStatus(beat, 200);
    expect(beat.body.cancelRequested === false, 'heartbeat: lease extended, no cancel requested', beat.body);
    const done = await call('POST', `/v1/tasks/${task.id}/complete`, tokens.ci, { leaseToken: item?.leaseToken, result: { artifact: 'compile.tar' } });
    expectStatus(done, 200);
    expect(done.body.status === 'completed', 'status completed', done.body.status);
    const stale = await call('POST', `/v1/tasks/${task.id}/complete`, tokens.ci, { leaseToken: '00000000-0000-4000-8000-000000000000' });
    expect(stale.status === 409, 'a complete with another lease token is 409 (lease_lost)', stale.body);
    const events = await call('GET', `/v1/tasks/${task.id}/events`, tokens.admin);
    expectStatus(events, 200);
    const types = (events.body.items ?? []).map((e) => e.type).join(' → ');
    expect(types === 'created → claimed → progress → completed', `history: ${types}`, events.body);
    facts.push(`task ${task.id}: claimed by demo-worker, completed with its lease token`);
  });

  const hookName = 'score';
  const digest = (label: string) => `sha256:${createHash('sha256').update(`${run}-${label}`).digest('hex')}`;
  const release = (label: string) => ({ image: `registry.example.test/hooks/${hookName}`, digest: digest(label), config: { threshold: label === 'v1' ? 0.5 : 0.7 }, sourceRef: `git:${run}-${label}` });

  await step('Deploy a convention with the CI token (conventions:write)', async () => {
    const bundle = { slug: 'lead-scoring', schema: { fields: ['lead', 'score'] }, hooks: [{ name: hookName, feature: 'lead.score.v1', release: release('v1') }] };
    const deployed = await call('POST', '/v1/conventions', tokens.ci, bundle);
    expectStatus(deployed, 201);
    expect(deployed.body.changed === true && deployed.body.convention?.updatedBy === 'service_account:ci-pipeline', 'deployed by service_account:ci-pipeline', deployed.body);
    const same = await call('POST', '/v1/conventions', tokens.ci, bundle);
    expect(same.status === 200 && same.body.changed === false, 'an identical re-deploy is a no-op (200, changed: false)', { status: same.status, changed: same.body.changed });
  });

  await step('Release a new hook version with the CI token (hooks:write)', async () => {
    const r = await call('POST', `/v1/hooks/${hookName}/releases`, tokens.ci, release('v2'));
    expectStatus(r, 201);
    expect(r.body.release?.version === 2 && r.body.release?.builtBy === 'service_account:ci-pipeline', 'version 2, built by service_account:ci-pipeline', r.body.release);
    const hook = await call('GET', `/v1/hooks/${hookName}`, tokens.admin);
    expect(hook.body.liveVersion === 2, 'version 2 is live', hook.body.liveVersion);
  });

  const runInfo = await step('Start a run (snapshots the live release) and add outputs', async () => {
    const started = await call('POST', `/v1/hooks/${hookName}/runs`, tokens.ci);
    expectStatus(started, 201);
    expect(started.body.release?.version === 2, `run ${started.body.runId} on version 2`, started.body.release);
    const outputs = await call('POST', `/v1/runs/${started.body.runId}/outputs`, tokens.ci, { rows: [{ lead: 'acme-corp', score: 0.91 }, { lead: 'globex', score: 0.42 }] });
    expectStatus(outputs, 201);
    expect(Array.isArray(outputs.body.ids) && outputs.body.ids.length === 2, '2 output rows recorded', outputs.body);
    const finished = await call('POST', `/v1/runs/${started.body.runId}/finish`, tokens.ci, { status: 'succeeded' });
    expectStatus(finished, 200);
    expect(finished.body.status === 'succeeded', 'run succeeded', finished.body.status);
    return { runId: String(started.body.runId), outputId: String(outputs.body.ids?.[0]) };
  });

  await step('Roll the live pointer back to version 1', async () => {
    const r = await call('PUT', `/v1/hooks/${hookName}/live`, tokens.ci, { version: 1 });
    expectStatus(r, 200);
    expect(r.body.liveVersion === 1, 'version 1 is live again (history kept)', r.body.liveVersion);
  });

  await step("Show an output's provenance", async () => {
    const r = await call('GET', `/v1/outputs/${runInfo.outputId}/provenance`, tokens.admin);
    expectStatus(r, 200);
    const p = r.body;
    log(`     output ${p.output?.id} → run ${p.run?.id} (${p.run?.status}) → release v${p.release?.version} ${p.release?.digest}`);
    log(`       config ${JSON.stringify(p.release?.config)}, source ${p.release?.sourceRef}, built by ${p.release?.builtBy} → hook ${p.hook?.name} (live now v${p.hook?.liveVersion})`);
    expect(
      p.run?.id === runInfo.runId && p.release?.version === 2 && p.release?.digest === digest('v2') && p.hook?.liveVersion === 1,
      'the row resolves to the release that produced it (v2), even after the rollback to v1',
      p,
    );
    facts.push(`hook ${hookName}: v1 deployed, v2 released and run, rolled back to v1; output traced to v2`);
  });

  const roots = await step('Create workspaces with plugin allowlists', async () => {
    const ids: Record<string, string> = {};
    for (const name of ['design', 'research']) {
      const r = await call('POST', '/v1/workspaces', tokens.admin, { name });
      expectStatus(r, 201);
      expect(r.body.kind === 'workspace' && r.body.status === 'offline', `workspace "${name}" ${r.body.id} (offline until it sends a heartbeat)`, r.body);
      ids[name] = String(r.body.id);
    }
    for (const [name, plugin] of [['design', 'figma'], ['design', 'slack'], ['research', 'slack']] as const) {
      const r = await call('PUT', `/v1/workspaces/${ids[name]}/plugins/${plugin}`, tokens.admin);
      expectStatus(r, 200);
    }
    return ids;
  });

  const platformAgentId = await step('Install the platform agent', async () => {
    const r = await call('POST', '/v1/platform-agent/install', tokens.admin, {});
    expectStatus(r, 201);
    expect(r.body.status === 'installed' && r.body.created === true && r.body.kind === 'platform' && r.body.reparented === 2 && r.body.allowlistMoved === 2, 'installed: 2 roots re-parented, 2 distinct plugins moved', r.body);
    const plugins = await call('GET', `/v1/workspaces/${r.body.platformAgentId}/plugins`, tokens.admin);
    const names = (plugins.body.items ?? []).map((p) => p.plugin);
    expect(names.join(',') === 'figma,slack', 'the platform agent holds the allowlist: figma, slack', names);
    const child = await call('GET', `/v1/workspaces/${roots.design}`, tokens.admin);
    expect(child.body.parentId === r.body.platformAgentId, 'the old roots now live under it', child.body.parentId);
    const again = await call('POST', '/v1/platform-agent/install', tokens.admin, {});
    expect(again.status === 200 && again.body.created === false && again.body.platformAgentId === r.body.platformAgentId && again.body.reparented === 0, 're-installing is a no-op (200, created: false)', again.body);
    return String(r.body.platformAgentId);
  });

  await step("Send a heartbeat as the platform agent's own service account", async () => {
    const sa = await signDevToken({ secret: opts.secret, issuer: opts.issuer, audience: opts.audience, tenant, sub: platformAgentId, serviceAccount: true });
    const r = await call('POST', `/v1/workspaces/${platformAgentId}/heartbeat`, sa);
    expectStatus(r, 200);
    expect(r.body.status === 'online' && typeof r.body.lastHeartbeatAt === 'string', `online, last heartbeat ${r.body.lastHeartbeatAt}`, r.body);
    facts.push(`workspaces: platform agent ${platformAgentId} online, 2 workspaces under it, allowlist figma + slack`);
  });

  log('\nSummary');
  log(`  tenant ${tenant}`);
  log(`  task ${task.id} created once though sent twice (Idempotent-Replayed: true)`);
  for (const f of facts) log(`  ${f}`);
  // The console shows this tenant's data with its admin's token (in the fragment: never sent to a server).
  log(`\nSee it in the console (tenant ${tenant}): ${base}/console/#token=${tokens.admin}`);
  log(`\nDemo passed: ${stepNo} steps, every result as expected.`);
  return { tenant, steps: stepNo };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: process.env['DEMO_URL'] ?? 'http://127.0.0.1:3000' },
      'ci-key': { type: 'string', default: DEV_CI_KEY_FILE },
      tenant: { type: 'string' },
    },
  });
  runDemo({
    url: values.url,
    ciKeyFile: values['ci-key'],
    tenant: values.tenant,
    secret: process.env['AUTH_JWT_SECRET'] || DEV_JWT_SECRET,
    issuer: process.env['AUTH_JWT_ISSUER'] || 'agentplane',
    audience: process.env['AUTH_JWT_AUDIENCE'] || 'agentplane',
  }).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`\nDemo FAILED: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
