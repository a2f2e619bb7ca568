import { signDevToken } from '@agentplane/auth';
import { bootStack, call, E2E_SECRET, type E2E } from './harness.js';

const primary = { secret: E2E_SECRET, issuer: 'agentplane', audience: 'agentplane' };
const TENANT = 'acl';
const WHO = ['owner', 'stranger', 'outsider', 'admin'] as const;
type Who = (typeof WHO)[number];

/** A request as one caller sends it, on resources made for that caller alone (a write changes what it acts on). */
interface Row {
  call: (who: Who) => Promise<{ status: number; text: string }>;
  /** The status each caller gets (2xx: done). */
  expect: Record<Who, number>;
}

/**
 * Who may do what at every write route the gateway serves (DESIGN §3, §11), in `enforce`: one row per mutating
 * operation of the served OpenAPI document, so a route added without one fails here. The owner is the creator of the
 * agent, its task and the workspace, and a plain member otherwise; the stranger a member with no relation; the
 * outsider a member of another tenant; the admin the tenant's. What a caller may not read is 404, what it may read
 * but not do is 403, and a role's route (hooks:write, tenant admin) is 403 to a member of any tenant.
 */
describe('who may do what at every write route (enforce)', () => {
  let e2e: E2E;
  const tokens = {} as Record<Who, string>;
  let rows: Record<string, Row> = {};

  beforeAll(async () => {
    e2e = await bootStack('e2e_write_access');
    tokens.owner = await signDevToken({ ...primary, tenant: TENANT, sub: 'alice' });
    tokens.stranger = await signDevToken({ ...primary, tenant: TENANT, sub: 'sam' });
    tokens.outsider = await signDevToken({ ...primary, tenant: 'elsewhere', sub: 'olga' });
    tokens.admin = await signDevToken({ ...primary, tenant: TENANT, sub: 'ada', roles: ['admin'] });
    const as = (who: Who, method: string, path: string, body?: unknown) => call(e2e, method, path, { token: tokens[who], body });
    expect((await as('admin', 'PUT', `/v1/authz/tenants/${TENANT}/mode`, { mode: 'enforce' })).status).toBe(200);

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
    rows = {
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
      'POST /v1/platform-agent/install': { call: (w) => as(w, 'POST', '/v1/platform-agent/install'), expect: { owner: 403, stranger: 403, outsider: 403, admin: 200 } },
    };
  }, 90_000);

  afterAll(async () => {
    await e2e?.stop();
  });

  it('has a row for every write route of the served document', async () => {
    const doc = (await (await fetch(`${e2e.url}/docs-json`)).json()) as { paths: Record<string, Record<string, { description?: string }>> };
    const writes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).filter(([m, op]) => m !== 'get' && /NATS subject/.test(op.description ?? '')).map(([m]) => `${m.toUpperCase()} ${path}`));
    expect(writes.length).toBeGreaterThanOrEqual(26);
    expect(writes.filter((w) => !rows[w])).toEqual([]);
  });

  it('answers each caller as the table says', async () => {
    const wrong: string[] = [];
    for (const [route, row] of Object.entries(rows)) {
      for (const who of WHO) {
        const res = await row.call(who);
        if (res.status !== row.expect[who]) wrong.push(`${route} as ${who}: expected ${row.expect[who]}, got ${res.status} ${res.text.slice(0, 160)}`);
      }
    }
    expect(wrong).toEqual([]);
  }, 60_000);
});
