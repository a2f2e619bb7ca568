import type pg from 'pg';
import type { TestDatabase } from '@agentplane/persistence';
import { NatsCaller, serviceAccountToken, testPrefix, userToken, type RunningService } from '@agentplane/testing';
import { ACME, ACME_ADMIN, ALICE, CAROL, DAVE, GLOBEX, GLOBEX_ADMIN, SVC, agentRef } from './constants.js';
import { authzDatabase, errorCode, ok, sql, startAuthz } from './setup.js';

interface Grants {
  items: Array<{ subject: string; action: string; grantedBy: string | null; grantedAt: string }>;
  nextCursor: string | null;
}
interface History {
  items: Array<{ change: 'granted' | 'revoked'; subject: string; action: string; by: string; at: string }>;
  nextCursor: string | null;
}

/** The audit of access to a resource (harbor #21025): who holds what by a grant, who granted and revoked it, when. */
describe('authz.v1.list_grants and authz.v1.grant_history', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let caller: NatsCaller;
  let c: pg.Client;
  const prefix = testPrefix('authz_audit');
  const t: Record<string, string> = {};
  const agent = agentRef(401);

  const grant = (subject: string, action: string, token: string, resource = agent) => ok(caller, 'authz.v1.grant', { subject, action, resource }, token);
  const revoke = (subject: string, action: string, token: string) => ok(caller, 'authz.v1.revoke', { subject, action, resource: agent }, token);
  const grants = (token: string, extra: Record<string, unknown> = {}, resource = agent) => ok<Grants>(caller, 'authz.v1.list_grants', { resource, ...extra }, token);
  const history = (token: string, extra: Record<string, unknown> = {}, resource = agent) => ok<History>(caller, 'authz.v1.grant_history', { resource, ...extra }, token);

  beforeAll(async () => {
    db = await authzDatabase();
    svc = await startAuthz(db, prefix, { AUTHZ_DEFAULT_MODE: 'enforce' });
    caller = await NatsCaller.connect(prefix, 'lib-test');
    c = await sql(db);
    t.svc = await serviceAccountToken(ACME, SVC);
    t.alice = await userToken(ACME, ALICE);
    t.carol = await userToken(ACME, CAROL);
    t.dave = await userToken(ACME, DAVE);
    t.admin = await userToken(ACME, ACME_ADMIN, { roles: ['admin'] });
    t.globexAdmin = await userToken(GLOBEX, GLOBEX_ADMIN, { roles: ['admin'] });
    await ok(caller, 'authz.v1.register', { resource: agent, tenant: ACME, owner: `user:${ALICE}` }, t.svc);
    // an owner may do all but admin: the tenant admin makes alice an admin of her agent
    await grant(`user:${ALICE}`, 'admin', t.admin!);
  });

  afterAll(async () => {
    await c?.end();
    await caller?.close();
    await svc?.close();
    await db?.drop();
  });

  it('says who granted what and when, and keeps every grant and revocation that changed something, newest first', async () => {
    const before = Date.now();
    expect(await grant(`user:${CAROL}`, 'read', t.alice!)).toEqual({ subject: `user:${CAROL}`, action: 'read', resource: agent, created: true });
    await grant(`user:${DAVE}`, 'write', t.admin!);
    // granting again and revoking what is not granted change nothing: no audit line, and the grant says so
    expect(await grant(`user:${CAROL}`, 'read', t.admin!)).toEqual({ subject: `user:${CAROL}`, action: 'read', resource: agent, created: false });
    await revoke(`user:${DAVE}`, 'write', t.alice!);
    await revoke(`user:${DAVE}`, 'write', t.alice!);

    const now = await grants(t.alice!);
    expect(now).toEqual({
      items: [
        { subject: `user:${ALICE}`, action: 'admin', grantedBy: `user:${ACME_ADMIN}`, grantedAt: expect.any(String) },
        { subject: `user:${CAROL}`, action: 'read', grantedBy: `user:${ALICE}`, grantedAt: expect.any(String) },
      ],
      nextCursor: null,
    });
    expect(Date.parse(now.items[1]!.grantedAt)).toBeGreaterThanOrEqual(before - 1000);
    // the owner and tenant relations are not grants
    const { rows } = await c.query<{ relation: string; granted_by: string | null }>('SELECT relation, granted_by FROM tuples WHERE resource = $1 ORDER BY relation', [agent]);
    expect(rows).toEqual([
      { relation: 'admin', granted_by: `user:${ACME_ADMIN}` },
      { relation: 'owner', granted_by: null },
      { relation: 'read', granted_by: `user:${ALICE}` },
      { relation: 'tenant', granted_by: null },
    ]);

    const log = await history(t.alice!);
    expect(log.items.map(({ change, subject, action, by }) => [change, subject, action, by])).toEqual([
      ['revoked', `user:${DAVE}`, 'write', `user:${ALICE}`],
      ['granted', `user:${DAVE}`, 'write', `user:${ACME_ADMIN}`],
      ['granted', `user:${CAROL}`, 'read', `user:${ALICE}`],
      ['granted', `user:${ALICE}`, 'admin', `user:${ACME_ADMIN}`],
    ]);
    expect(log.nextCursor).toBeNull();
    const times = log.items.map((i) => Date.parse(i.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it('the same grant asked many times at once is one grant and one audit line', async () => {
    const replies = (await Promise.all(Array.from({ length: 8 }, () => grant(`user:${DAVE}`, 'cancel', t.admin!)))) as Array<{ created: boolean }>;
    expect(replies.map((r) => r.created).sort()).toEqual([false, false, false, false, false, false, false, true]);
    const lines = (await history(t.admin!)).items.filter((i) => i.subject === `user:${DAVE}` && i.action === 'cancel');
    expect(lines).toHaveLength(1);
    expect((await grants(t.admin!)).items.filter((i) => i.subject === `user:${DAVE}` && i.action === 'cancel')).toHaveLength(1);
  });

  it('pages both in keyset order, the last page without a cursor; a cursor it did not give is VALIDATION', async () => {
    await grant(`user:${CAROL}`, 'write', t.alice!);
    await grant(`user:${DAVE}`, 'read', t.alice!);
    const all = (await grants(t.alice!)).items.map((i) => `${i.action}@${i.subject}`);
    expect(all).toEqual([`admin@user:${ALICE}`, `cancel@user:${DAVE}`, `read@user:${CAROL}`, `read@user:${DAVE}`, `write@user:${CAROL}`]);
    const paged: string[] = [];
    let cursor: string | undefined;
    do {
      const p = await grants(t.alice!, { limit: 1, ...(cursor ? { cursor } : {}) });
      paged.push(...p.items.map((i) => `${i.action}@${i.subject}`));
      cursor = p.nextCursor ?? undefined;
    } while (cursor);
    expect(paged).toEqual(all);

    const full = (await history(t.alice!)).items;
    const pages: History['items'] = [];
    cursor = undefined;
    do {
      const p = await history(t.alice!, { limit: 2, ...(cursor ? { cursor } : {}) });
      pages.push(...p.items);
      cursor = p.nextCursor ?? undefined;
    } while (cursor);
    expect(pages).toEqual(full);

    const bad = await caller.request('authz.v1.grant_history', { resource: agent, cursor: 'not-a-cursor' }, { token: t.alice! });
    expect(bad.body).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'cursor' }] } } });
    // a number past PostgreSQL's bigint would fail the query's cast: refused before it
    const huge = Buffer.from('9999999999999999999').toString('base64url');
    expect(await errorCode(caller, 'authz.v1.grant_history', { resource: agent, cursor: huge }, t.alice!)).toBe('VALIDATION');
    expect(await errorCode(caller, 'authz.v1.list_grants', { resource: agent, cursor: Buffer.from('["fly","x"]').toString('base64url') }, t.alice!)).toBe('VALIDATION');
    expect(await errorCode(caller, 'authz.v1.list_grants', { resource: 'nope' }, t.alice!)).toBe('VALIDATION');
  });

  it('orders by the line, not its text: newest first across a digit boundary, every page in order', async () => {
    const resource = agentRef(402);
    await ok(caller, 'authz.v1.register', { resource, tenant: ACME, owner: `user:${ALICE}` }, t.svc!);
    // the next lines are numbered 98, 99, 100, 101: as text, "99" > "98" > "101" > "100"
    await c.query('ALTER TABLE grant_changes ALTER COLUMN id RESTART WITH 98');
    await grant(`user:${CAROL}`, 'read', t.admin!, resource);
    await grant(`user:${DAVE}`, 'read', t.admin!, resource);
    await grant(`user:${CAROL}`, 'write', t.admin!, resource);
    await grant(`user:${DAVE}`, 'write', t.admin!, resource);
    const newestFirst = [`write@user:${DAVE}`, `write@user:${CAROL}`, `read@user:${DAVE}`, `read@user:${CAROL}`];
    expect((await history(t.admin!, {}, resource)).items.map((i) => `${i.action}@${i.subject}`)).toEqual(newestFirst);
    const paged: string[] = [];
    let cursor: string | undefined;
    do {
      const p = await history(t.admin!, { limit: 1, ...(cursor ? { cursor } : {}) }, resource);
      paged.push(...p.items.map((i) => `${i.action}@${i.subject}`));
      cursor = p.nextCursor ?? undefined;
    } while (cursor);
    expect(paged).toEqual(newestFirst);
  });

  it('needs admin on the resource: a reader is refused, a stranger and another tenant find nothing', async () => {
    expect(await errorCode(caller, 'authz.v1.list_grants', { resource: agent }, t.carol!)).toBe('FORBIDDEN');
    expect(await errorCode(caller, 'authz.v1.grant_history', { resource: agent }, t.carol!)).toBe('FORBIDDEN');
    const stranger = await userToken(ACME, 'erin');
    expect(await errorCode(caller, 'authz.v1.list_grants', { resource: agent }, stranger)).toBe('NOT_FOUND');
    expect(await errorCode(caller, 'authz.v1.list_grants', { resource: agent }, t.globexAdmin!)).toBe('NOT_FOUND');
    expect(await errorCode(caller, 'authz.v1.grant_history', { resource: agent }, t.globexAdmin!)).toBe('NOT_FOUND');
  });
});
