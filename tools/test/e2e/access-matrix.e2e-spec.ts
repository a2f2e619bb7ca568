import { signDevToken } from '@agentplane/auth';
import { bootStack, call, waitFor, E2E_SECRET, type E2E } from './harness.js';

const primary = { secret: E2E_SECRET, issuer: 'agentplane', audience: 'agentplane' };
const TENANT = 'acl';
const WHO = ['owner', 'stranger', 'outsider', 'admin'] as const;
type Who = (typeof WHO)[number];

/** What one caller gets from a read: a status, or 200 with the resource in the list (`has`) or not (`lacks`). */
type Expect = number | 'has' | 'lacks';
interface ReadRow extends Record<Who, Expect> {
  url: string;
  /** The id or name a list answer is searched for. */
  listed?: string;
}
/** A write as one caller sends it, on resources made for that call alone (a write changes what it acts on). */
interface WriteRow {
  call: (who: Who) => Promise<{ status: number; text: string }>;
  /** The status each caller gets (2xx: done). */
  expect: Record<Who, number>;
}

/**
 * Who sees what at every read route, and who may do what at every write route, the gateway serves (DESIGN §3, §11),
 * in `enforce`: a table with a row for every operation of the served OpenAPI document, so a route added without one
 * fails here. The callers: the owner (the creator of the agent, its tasks and the workspace, a plain member
 * otherwise), a member with no relation, a member of another tenant, and the tenant's admin. Tasks and agents answer
 * only a caller who may read them (404 otherwise, and lists leave them out); hooks, conventions, provenance and
 * workspaces every member; nothing crosses tenants; what one may read but not do is 403, as is a role's route
 * (hooks:write, tenant admin) to a member. Written after GET /v1/agents/{id} turned out to answer every member.
 */
describe('who sees what and may do what at every route (enforce)', () => {
  let e2e: E2E;
  const tokens = {} as Record<Who, string>;
  let readRows: Record<string, ReadRow> = {};
  let writeRows: Record<string, WriteRow> = {};
  /** "METHOD /path" of every operation of the served document that forwards to a service, reads or writes. */
  const served = async (reads: boolean): Promise<string[]> => {
    const doc = (await (await fetch(`${e2e.url}/docs-json`)).json()) as { paths: Record<string, Record<string, { description?: string }>> };
    return Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([m, op]) => (m === 'get') === reads && /NATS subject/.test(op.description ?? ''))
        .map(([m]) => `${m.toUpperCase()} ${path}`),
    );
  };

  beforeAll(async () => {
    e2e = await bootStack('e2e_access');
    tokens.owner = await signDevToken({ ...primary, tenant: TENANT, sub: 'alice' });
    tokens.stranger = await signDevToken({ ...primary, tenant: TENANT, sub: 'sam' });
    tokens.outsider = await signDevToken({ ...primary, tenant: 'elsewhere', sub: 'olga' });
    tokens.admin = await signDevToken({ ...primary, tenant: TENANT, sub: 'ada', roles: ['admin'] });
    const as = (who: Who, method: string, path: string, body?: unknown) => call(e2e, method, path, { token: tokens[who], body });
    expect((await as('admin', 'PUT', `/v1/authz/tenants/${TENANT}/mode`, { mode: 'enforce' })).status).toBe(200);

    const agent = (await as('owner', 'POST', '/v1/agents', { name: 'seen' })).body.id as string;
    const task = (await as('owner', 'POST', '/v1/tasks', { agentId: agent, name: 'seen-task' })).body.id as string;
    const workspace = (await as('owner', 'POST', '/v1/workspaces', { name: 'seen-ws' })).body.id as string;
    const deployed = await as('admin', 'POST', '/v1/conventions', { slug: 'seen', schema: {}, hooks: [{ name: 'seen-hook', feature: 'f', release: { image: 'img', digest: `sha256:${'a'.repeat(64)}` } }] });
    expect(deployed.status).toBe(201);
    const run = (await as('admin', 'POST', '/v1/hooks/seen-hook/runs')).body.runId as string;
    const output = (await as('admin', 'POST', `/v1/runs/${run}/outputs`, { rows: [{ n: 1 }] })).body.ids[0] as string;
    // every registration has landed (the lists and the lookup read registrations)
    await waitFor(
      () => as('owner', 'GET', '/v1/authz/lookup?action=read&type=task'),
      (r) => r.body?.items?.some((i: string | { resource: string }) => JSON.stringify(i).includes(task)),
      15_000,
    );

    const member: Record<Who, Expect> = { owner: 200, stranger: 200, outsider: 404, admin: 200 };
    const memberList: Record<Who, Expect> = { owner: 'has', stranger: 'has', outsider: 'lacks', admin: 'has' };
    const readers: Record<Who, Expect> = { owner: 200, stranger: 404, outsider: 404, admin: 200 };
    const readersList: Record<Who, Expect> = { owner: 'has', stranger: 'lacks', outsider: 'lacks', admin: 'has' };
    readRows = {
      'GET /v1/agents': { url: '/v1/agents', listed: agent, ...readersList },
      'GET /v1/agents/{id}': { url: `/v1/agents/${agent}`, ...readers },
      'GET /v1/agents/by-name/{name}': { url: '/v1/agents/by-name/seen', ...readers },
      'GET /v1/agents/{id}/stats': { url: `/v1/agents/${agent}/stats`, ...readers },
      'GET /v1/tasks': { url: '/v1/tasks', listed: task, ...readersList },
      'GET /v1/tasks/by-name/{name}': { url: '/v1/tasks/by-name/seen-task', ...readers },
      'GET /v1/tasks/{id}': { url: `/v1/tasks/${task}`, ...readers },
      'GET /v1/tasks/{id}/events': { url: `/v1/tasks/${task}/events`, ...readers },
      'GET /v1/authz/lookup': { url: '/v1/authz/lookup?action=read&type=agent', listed: agent, ...readersList },
      // who holds what on a resource is admin's to see, as granting is: the owner may read the agent, not administer it
      'GET /v1/authz/grants': { url: `/v1/authz/grants?resource=agent:${agent}`, owner: 403, stranger: 404, outsider: 404, admin: 200 },
      'GET /v1/authz/grants/history': { url: `/v1/authz/grants/history?resource=agent:${agent}`, owner: 403, stranger: 404, outsider: 404, admin: 200 },
      'GET /v1/authz/tenants/{tenantId}/status': { url: `/v1/authz/tenants/${TENANT}/status`, owner: 403, stranger: 403, outsider: 403, admin: 200 },
      'GET /v1/conventions/{slug}': { url: '/v1/conventions/seen', ...member },
      'GET /v1/hooks': { url: '/v1/hooks', listed: 'seen-hook', ...memberList },
      'GET /v1/hooks/{name}': { url: '/v1/hooks/seen-hook', ...member },
      'GET /v1/hooks/{name}/releases': { url: '/v1/hooks/seen-hook/releases', ...member },
      'GET /v1/hooks/{name}/releases/{version}': { url: '/v1/hooks/seen-hook/releases/1', ...member },
      'GET /v1/hooks/{name}/live-changes': { url: '/v1/hooks/seen-hook/live-changes', ...member },
      'GET /v1/outputs/{id}/provenance': { url: `/v1/outputs/${output}/provenance`, ...member },
      'GET /v1/workspaces': { url: '/v1/workspaces', listed: workspace, ...memberList },
      'GET /v1/workspaces/{id}': { url: `/v1/workspaces/${workspace}`, ...member },
      'GET /v1/workspaces/{id}/plugins': { url: `/v1/workspaces/${workspace}/plugins`, owner: 403, stranger: 403, outsider: 404, admin: 200 },
      'GET /v1/workspaces/{id}/plugin-changes': { url: `/v1/workspaces/${workspace}/plugin-changes`, owner: 403, stranger: 403, outsider: 404, admin: 200 },
    };

    let n = 0;
    const agentOf = async () => (await as('owner', 'POST', '/v1/agents', { name: `agent-${++n}` })).body.id as string;
    const taskOf = async () => {
      const agentId = await agentOf();
      const task = await as('owner', 'POST', '/v1/tasks', { agentId, name: `task-${++n}` });
      return { agentId, id: task.body.id as string, name: task.body.name as string };
    };
    /** A task the owner has claimed: its lease token, for the worker calls. */
    const claimedOf = async () => {
      const t = await taskOf();
      const claimed = await as('owner', 'POST', `/v1/agents/${t.agentId}/claims`, { workerId: 'w' });
      return { ...t, leaseToken: claimed.body.items[0].leaseToken as string };
    };
    const workspaceOf = async () => (await as('owner', 'POST', '/v1/workspaces', { name: `ws-${++n}` })).body.id as string;
    const digest = () => `sha256:${String(++n).padStart(64, '0')}`;
    const hookOf = async () => {
      const name = `hook-${++n}`;
      expect((await as('admin', 'POST', '/v1/conventions', { slug: name, schema: {}, hooks: [{ name, feature: 'f', release: { image: 'img', digest: digest() } }] })).status).toBe(201);
      return name;
    };
    const runOf = async () => (await as('admin', 'POST', `/v1/hooks/${await hookOf()}/runs`)).body.runId as string;

    const reader = { owner: 200, stranger: 404, outsider: 404, admin: 200 };
    const anyMember = { owner: 201, stranger: 201, outsider: 201, admin: 201 };
    const hooksWriter = (ok: number) => ({ owner: 403, stranger: 403, outsider: 403, admin: ok });
    const tenantAdmin = (ok: number) => ({ owner: 403, stranger: 403, outsider: 404, admin: ok });
    writeRows = {
      'POST /v1/agents': { call: (w) => as(w, 'POST', '/v1/agents', { name: `by-${w}-${++n}` }), expect: anyMember },
      'POST /v1/agents/{id}/claims': { call: async (w) => as(w, 'POST', `/v1/agents/${(await taskOf()).agentId}/claims`, { workerId: w }), expect: reader },
      'POST /v1/tasks': { call: async (w) => as(w, 'POST', '/v1/tasks', { agentId: await agentOf(), name: `t-${++n}` }), expect: { ...reader, owner: 201, admin: 201 } },
      'POST /v1/tasks/{id}/heartbeat': { call: async (w) => { const t = await claimedOf(); return as(w, 'POST', `/v1/tasks/${t.id}/heartbeat`, { leaseToken: t.leaseToken }); }, expect: reader },
      'POST /v1/tasks/{id}/complete': { call: async (w) => { const t = await claimedOf(); return as(w, 'POST', `/v1/tasks/${t.id}/complete`, { leaseToken: t.leaseToken }); }, expect: reader },
      'POST /v1/tasks/{id}/fail': { call: async (w) => { const t = await claimedOf(); return as(w, 'POST', `/v1/tasks/${t.id}/fail`, { leaseToken: t.leaseToken, error: { message: 'x' } }); }, expect: reader },
      'POST /v1/tasks/{id}/cancel': { call: async (w) => as(w, 'POST', `/v1/tasks/${(await taskOf()).id}/cancel`), expect: reader },
      'DELETE /v1/tasks/{id}': { call: async (w) => as(w, 'DELETE', `/v1/tasks/${(await taskOf()).id}`), expect: { ...reader, owner: 204, admin: 204 } },
      'DELETE /v1/tasks/by-name/{name}': { call: async (w) => as(w, 'DELETE', `/v1/tasks/by-name/${(await taskOf()).name}`), expect: { ...reader, owner: 204, admin: 204 } },
      'POST /v1/authz/check': { call: async (w) => as(w, 'POST', '/v1/authz/check', { action: 'read', resource: `agent:${await agentOf()}` }), expect: { owner: 200, stranger: 200, outsider: 200, admin: 200 } },
      'POST /v1/authz/explain': { call: async (w) => as(w, 'POST', '/v1/authz/explain', { action: 'read', resource: `agent:${await agentOf()}` }), expect: { owner: 200, stranger: 200, outsider: 200, admin: 200 } },
      // an owner may do everything with what it created but `admin`, which giving grants needs
      'POST /v1/authz/grants': { call: async (w) => as(w, 'POST', '/v1/authz/grants', { subject: 'user:zed', action: 'read', resource: `agent:${await agentOf()}` }), expect: { owner: 403, stranger: 404, outsider: 404, admin: 201 } },
      'DELETE /v1/authz/grants': { call: async (w) => as(w, 'DELETE', '/v1/authz/grants', { subject: 'user:zed', action: 'read', resource: `agent:${await agentOf()}` }), expect: { owner: 403, stranger: 404, outsider: 404, admin: 204 } },
      'PUT /v1/authz/tenants/{tenantId}/mode': { call: (w) => as(w, 'PUT', `/v1/authz/tenants/${TENANT}/mode`, { mode: 'enforce' }), expect: { owner: 403, stranger: 403, outsider: 403, admin: 200 } },
      'POST /v1/conventions': { call: (w) => as(w, 'POST', '/v1/conventions', { slug: `c-${++n}`, schema: {}, hooks: [{ name: `ch-${n}`, feature: 'f', release: { image: 'img', digest: digest() } }] }), expect: hooksWriter(201) },
      'POST /v1/hooks/{name}/releases': { call: async (w) => as(w, 'POST', `/v1/hooks/${await hookOf()}/releases`, { image: 'img', digest: digest() }), expect: hooksWriter(201) },
      'PUT /v1/hooks/{name}/live': { call: async (w) => as(w, 'PUT', `/v1/hooks/${await hookOf()}/live`, { version: 1 }), expect: hooksWriter(200) },
      'POST /v1/hooks/{name}/runs': { call: async (w) => as(w, 'POST', `/v1/hooks/${await hookOf()}/runs`), expect: hooksWriter(201) },
      'POST /v1/runs/{id}/finish': { call: async (w) => as(w, 'POST', `/v1/runs/${await runOf()}/finish`, { status: 'succeeded' }), expect: hooksWriter(200) },
      'POST /v1/runs/{id}/outputs': { call: async (w) => as(w, 'POST', `/v1/runs/${await runOf()}/outputs`, { rows: [{ n: 1 }] }), expect: hooksWriter(201) },
      'POST /v1/workspaces': { call: (w) => as(w, 'POST', '/v1/workspaces', { name: `w-${w}-${++n}` }), expect: anyMember },
      'DELETE /v1/workspaces/{id}': { call: async (w) => as(w, 'DELETE', `/v1/workspaces/${await workspaceOf()}`), expect: tenantAdmin(204) },
      'POST /v1/workspaces/{id}/heartbeat': { call: async (w) => as(w, 'POST', `/v1/workspaces/${await workspaceOf()}/heartbeat`), expect: tenantAdmin(200) },
      'PUT /v1/workspaces/{id}/plugins/{plugin}': { call: async (w) => as(w, 'PUT', `/v1/workspaces/${await workspaceOf()}/plugins/slack`), expect: tenantAdmin(200) },
      'DELETE /v1/workspaces/{id}/plugins/{plugin}': { call: async (w) => as(w, 'DELETE', `/v1/workspaces/${await workspaceOf()}/plugins/slack`), expect: tenantAdmin(204) },
      'POST /v1/platform-agent/install': { call: (w) => as(w, 'POST', '/v1/platform-agent/install'), expect: { owner: 403, stranger: 403, outsider: 403, admin: 201 } },
    };
  }, 90_000);

  afterAll(async () => {
    await e2e?.stop();
  });

  it('has a row for every read and every write route of the served document', async () => {
    const reads = await served(true);
    const writes = await served(false);
    expect(reads.length).toBeGreaterThanOrEqual(19);
    expect(writes.length).toBeGreaterThanOrEqual(26);
    expect(reads.filter((r) => !readRows[r])).toEqual([]);
    expect(writes.filter((w) => !writeRows[w])).toEqual([]);
  });

  it('answers each caller at every read route as the table says', async () => {
    const wrong: string[] = [];
    for (const [route, row] of Object.entries(readRows)) {
      for (const who of WHO) {
        const res = await call(e2e, 'GET', row.url, { token: tokens[who] });
        const want = row[who];
        const items = (res.body?.items ?? []) as unknown[];
        const listed = res.status === 200 && items.some((i) => JSON.stringify(i).includes(row.listed ?? '\u0000'));
        const got: Expect = typeof want === 'number' ? res.status : res.status !== 200 ? res.status : listed ? 'has' : 'lacks';
        if (got !== want) wrong.push(`${route} as ${who}: expected ${want}, got ${got} ${res.text.slice(0, 160)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('answers each caller at every write route as the table says', async () => {
    const wrong: string[] = [];
    for (const [route, row] of Object.entries(writeRows)) {
      for (const who of WHO) {
        const res = await row.call(who);
        if (res.status !== row.expect[who]) wrong.push(`${route} as ${who}: expected ${row.expect[who]}, got ${res.status} ${res.text.slice(0, 160)}`);
      }
    }
    expect(wrong).toEqual([]);
  }, 60_000);
});
