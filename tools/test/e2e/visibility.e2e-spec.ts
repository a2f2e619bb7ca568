import { signDevToken } from '@agentplane/auth';
import { bootStack, call, waitFor, E2E_SECRET, type E2E } from './harness.js';

const primary = { secret: E2E_SECRET, issuer: 'agentplane', audience: 'agentplane' };
const TENANT = 'vis';

/** What one caller gets from a route: a status, or 200 with the resource in the list (`has`) or not (`lacks`). */
type Expect = number | 'has' | 'lacks';
interface Row {
  url: string;
  /** The id or name a list answer is searched for. */
  listed?: string;
  /** The creator of the agent, task and workspace, a plain member otherwise. */
  owner: Expect;
  /** A member of the tenant with no relation to anything. */
  stranger: Expect;
  /** A member of another tenant. */
  outsider: Expect;
  /** The tenant's admin. */
  admin: Expect;
}

/**
 * Who sees what, at every read route the gateway serves (DESIGN §3, §11), in `enforce`: a table with a row for each
 * GET operation of the served OpenAPI document, so a route added without a row fails here. Tasks and agents answer
 * only a caller who may read them (404 otherwise, and lists leave them out); hooks, conventions, provenance and
 * workspaces answer every member of the tenant; another tenant finds nothing; the tenant's status and a workspace's
 * plugins are for its admin. Written after GET /v1/agents/{id} turned out to answer every member.
 */
describe('who sees what at every read route (enforce)', () => {
  let e2e: E2E;
  const tokens: Record<'owner' | 'stranger' | 'outsider' | 'admin', string> = { owner: '', stranger: '', outsider: '', admin: '' };
  let rows: Record<string, Row> = {};

  beforeAll(async () => {
    e2e = await bootStack('e2e_visibility');
    tokens.owner = await signDevToken({ ...primary, tenant: TENANT, sub: 'alice' });
    tokens.stranger = await signDevToken({ ...primary, tenant: TENANT, sub: 'sam' });
    tokens.outsider = await signDevToken({ ...primary, tenant: 'elsewhere', sub: 'olga' });
    tokens.admin = await signDevToken({ ...primary, tenant: TENANT, sub: 'ada', roles: ['admin'] });
    const as = (who: keyof typeof tokens, method: string, path: string, body?: unknown) => call(e2e, method, path, { token: tokens[who], body });
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

    const member: Pick<Row, 'owner' | 'stranger' | 'outsider' | 'admin'> = { owner: 200, stranger: 200, outsider: 404, admin: 200 };
    const memberList: Pick<Row, 'owner' | 'stranger' | 'outsider' | 'admin'> = { owner: 'has', stranger: 'has', outsider: 'lacks', admin: 'has' };
    const readers: Pick<Row, 'owner' | 'stranger' | 'outsider' | 'admin'> = { owner: 200, stranger: 404, outsider: 404, admin: 200 };
    const readersList: Pick<Row, 'owner' | 'stranger' | 'outsider' | 'admin'> = { owner: 'has', stranger: 'lacks', outsider: 'lacks', admin: 'has' };
    rows = {
      'GET /v1/agents': { url: '/v1/agents', listed: agent, ...readersList },
      'GET /v1/agents/{id}': { url: `/v1/agents/${agent}`, ...readers },
      'GET /v1/agents/{id}/stats': { url: `/v1/agents/${agent}/stats`, ...readers },
      'GET /v1/tasks': { url: '/v1/tasks', listed: task, ...readersList },
      'GET /v1/tasks/by-name/{name}': { url: '/v1/tasks/by-name/seen-task', ...readers },
      'GET /v1/tasks/{id}': { url: `/v1/tasks/${task}`, ...readers },
      'GET /v1/tasks/{id}/events': { url: `/v1/tasks/${task}/events`, ...readers },
      'GET /v1/authz/lookup': { url: '/v1/authz/lookup?action=read&type=agent', listed: agent, ...readersList },
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
    };
  }, 90_000);

  afterAll(async () => {
    await e2e?.stop();
  });

  it('has a row for every read route of the served document', async () => {
    const doc = (await (await fetch(`${e2e.url}/docs-json`)).json()) as { paths: Record<string, Record<string, { description?: string }>> };
    const reads = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).filter(([m, op]) => m === 'get' && /NATS subject/.test(op.description ?? '')).map(() => `GET ${path}`));
    expect(reads.length).toBeGreaterThanOrEqual(19);
    expect(reads.filter((r) => !rows[r])).toEqual([]);
  });

  it('answers each caller as the table says', async () => {
    const wrong: string[] = [];
    for (const [route, row] of Object.entries(rows)) {
      for (const who of ['owner', 'stranger', 'outsider', 'admin'] as const) {
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
});
