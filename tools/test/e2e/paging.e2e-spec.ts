import { signDevToken } from '@agentplane/auth';
import { bootStack, call, E2E_SECRET, type E2E } from './harness.js';

const primary = { secret: E2E_SECRET, issuer: 'agentplane', audience: 'agentplane' };
/** Items that exist throughout a walk, and the page size it walks them with. */
const STABLE = 30;
const PAGE = 4;

/**
 * Keyset pagination while others write (honest about state): every list is walked page by page, with its cursor,
 * while a writer keeps creating and deleting other items of the same kind. Every item that existed throughout the
 * walk is in it exactly once, nothing appears twice, and a cursor never fails.
 */
describe('every list walked by its cursor while others write', () => {
  let e2e: E2E;
  let token: string;
  let agentId: string;

  beforeAll(async () => {
    e2e = await bootStack('e2e_paging');
    token = await signDevToken({ ...primary, tenant: 'pages', sub: 'pat', roles: ['admin'] });
    agentId = (await call(e2e, 'POST', '/v1/agents', { token, body: { name: 'paged' } })).body.id;
  }, 90_000);

  afterAll(async () => {
    await e2e?.stop();
  });

  const post = (path: string, body: unknown) => call(e2e, 'POST', path, { token, body });

  /** Walks `url` to its end while `churn` runs; returns every key seen, in order, and the number of pages. */
  async function walk(url: string, key: (item: any) => string, churn: (i: number) => Promise<unknown>): Promise<{ keys: string[]; pages: number }> {
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) await churn(i);
    })();
    const keys: string[] = [];
    let pages = 0;
    try {
      let cursor: string | null = null;
      do {
        const sep = url.includes('?') ? '&' : '?';
        const res = await call(e2e, 'GET', `${url}${sep}limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token });
        expect(res.status).toBe(200);
        keys.push(...(res.body.items as unknown[]).map(key));
        cursor = res.body.nextCursor;
        pages++;
        // give the writer a turn between pages
        await new Promise((r) => setTimeout(r, 5));
      } while (cursor);
    } finally {
      stop = true;
      await writer;
    }
    return { keys, pages };
  }

  const expectWalk = (got: { keys: string[]; pages: number }, stable: string[]) => {
    expect(got.keys.length).toBe(new Set(got.keys).size);
    expect(stable.filter((k) => !got.keys.includes(k))).toEqual([]);
    expect(got.pages).toBeGreaterThan(STABLE / PAGE);
  };

  it('tasks (newest first), while tasks are created and deleted', async () => {
    const stable: string[] = [];
    for (let i = 0; i < STABLE; i++) stable.push((await post('/v1/tasks', { agentId, name: `stable-${i}` })).body.id);
    const got = await walk(`/v1/tasks?agentId=${agentId}`, (t) => t.id, async (i) => {
      const t = await post('/v1/tasks', { agentId, name: `churn-${i}` });
      if (i % 2) await call(e2e, 'DELETE', `/v1/tasks/${t.body.id}`, { token });
    });
    expectWalk(got, stable);
  });

  it('tasks too big for one reply together: a page answers fewer with its cursor, and the walk sees each once', async () => {
    const big = (await call(e2e, 'POST', '/v1/agents', { token, body: { name: 'big-params' } })).body.id as string;
    const ids: string[] = [];
    // 200 KB of params each (under the 256 KiB bound): a page of 50 would be 1.6 MB, over NATS's 1 MiB message
    for (let i = 0; i < 8; i++) ids.push((await post('/v1/tasks', { agentId: big, name: `big-${i}`, params: { blob: `${i}`.repeat(200_000) } })).body.id);
    const first = await call(e2e, 'GET', `/v1/tasks?agentId=${big}&limit=50`, { token });
    expect(first.status).toBe(200);
    expect(first.body.items.length).toBeGreaterThan(0);
    expect(first.body.items.length).toBeLessThan(8);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const seen: string[] = [];
    for (let cursor: string | null = null, pages = 0; pages === 0 || cursor; pages++) {
      const res = await call(e2e, 'GET', `/v1/tasks?agentId=${big}&limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token });
      expect(res.status).toBe(200);
      seen.push(...res.body.items.map((t: { id: string }) => t.id));
      cursor = res.body.nextCursor;
    }
    expect([...seen].sort()).toEqual([...ids].sort());
    // a params over the bound is refused at the door
    const over = await post('/v1/tasks', { agentId: big, name: 'too-big', params: { blob: 'x'.repeat(262_144) } });
    expect([over.status, over.body.error.details.issues[0].path]).toEqual([400, 'params']);
  });

  it('agents (by name), while agents are created around and between them', async () => {
    const stable: string[] = [];
    for (let i = 0; i < STABLE; i++) stable.push((await post('/v1/agents', { name: `m-${String(i).padStart(2, '0')}` })).body.id);
    // names that sort before, between and after the stable ones
    const got = await walk('/v1/agents', (a) => a.id, (i) => post('/v1/agents', { name: `${['a', 'm-05x', 'z'][i % 3]}-${i}` }));
    expectWalk(got, stable);
  });

  it('workspaces, while workspaces are created and removed', async () => {
    const stable: string[] = [];
    for (let i = 0; i < STABLE; i++) stable.push((await post('/v1/workspaces', { name: `ws-${i}` })).body.id);
    const got = await walk('/v1/workspaces', (w) => w.id, async (i) => {
      const w = await post('/v1/workspaces', { name: `churn-ws-${i}` });
      if (i % 2) await call(e2e, 'DELETE', `/v1/workspaces/${w.body.id}`, { token });
    });
    expectWalk(got, stable);
  });

  it('hooks, and one hook\'s releases and live changes, while more are released', async () => {
    const digest = (n: number) => `sha256:${String(n).padStart(64, '0')}`;
    const stable: string[] = [];
    for (let i = 0; i < STABLE; i++) {
      expect((await post('/v1/conventions', { slug: `conv-${i}`, schema: {}, hooks: [{ name: `hook-${i}`, feature: 'f', release: { image: 'img', digest: digest(i) } }] })).status).toBe(201);
      stable.push(`hook-${i}`);
    }
    expectWalk(await walk('/v1/hooks', (h) => h.name, (i) => post('/v1/conventions', { slug: `churn-${i}`, schema: {}, hooks: [{ name: `churn-hook-${i}`, feature: 'f', release: { image: 'img', digest: digest(1000 + i) } }] })), stable);

    const versions: string[] = ['1'];
    for (let i = 1; i < STABLE; i++) versions.push(String((await post('/v1/hooks/hook-0/releases', { image: 'img', digest: digest(2000 + i) })).body.release.version));
    let next = 3000;
    const release = () => post('/v1/hooks/hook-0/releases', { image: 'img', digest: digest(next++) });
    expectWalk(await walk('/v1/hooks/hook-0/releases', (r) => String(r.version), release), versions);
    const changes = (await call(e2e, 'GET', '/v1/hooks/hook-0/live-changes?limit=500', { token })).body.items.map((c: { id: string }) => c.id) as string[];
    expectWalk(await walk('/v1/hooks/hook-0/live-changes', (c) => c.id, release), changes);
  });
});
