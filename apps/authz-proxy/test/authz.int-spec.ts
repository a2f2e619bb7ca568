import type pg from 'pg';
import { ACTIONS } from '@agentplane/contracts';
import type { TestDatabase } from '@agentplane/persistence';
import { LogCapture, NatsCaller, serviceAccountToken, testPrefix, userToken, type RunningService } from '@agentplane/testing';
import { ACME, ACME_ADMIN, ALICE, BOB, CAROL, DAVE, GLOBEX, GLOBEX_ADMIN, MALLORY, SVC, agentRef, taskRef } from './constants.js';
import { authzDatabase, errorCode, metric, ok, sql, startAuthz, tuplesOf, decisionOf } from './setup.js';

const S = {
  register: 'authz.v1.register',
  deregister: 'authz.v1.deregister',
  grant: 'authz.v1.grant',
  revoke: 'authz.v1.revoke',
  check: 'authz.v1.check',
  lookup: 'authz.v1.lookup',
  setMode: 'authz.v1.set_mode',
};

describe('authz-proxy over NATS', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let caller: NatsCaller;
  let pgc: pg.Client;
  const logs = new LogCapture();
  const prefix = testPrefix('authz');
  const t: Record<string, string> = {};

  const check = async (token: string, action: string, resource: string, subject?: string) =>
    ok<{ allowed: boolean; reason: string; revision?: string }>(caller, S.check, { action, resource, ...(subject ? { subject } : {}) }, token).then(decisionOf);
  const register = (body: object, token = t.svc!) => ok(caller, S.register, body, token);

  beforeAll(async () => {
    db = await authzDatabase();
    svc = await startAuthz(db, prefix, { LOG_LEVEL: 'info' }, logs);
    caller = await NatsCaller.connect(prefix, 'lib-test');
    pgc = await sql(db);
    t.svc = await serviceAccountToken(ACME, SVC);
    t.alice = await userToken(ACME, ALICE);
    t.bob = await userToken(ACME, BOB);
    t.carol = await userToken(ACME, CAROL);
    t.dave = await userToken(ACME, DAVE);
    t.admin = await userToken(ACME, ACME_ADMIN, { roles: ['admin'] });
    t.globexSvc = await serviceAccountToken(GLOBEX, SVC);
    t.globexAdmin = await userToken(GLOBEX, GLOBEX_ADMIN, { roles: ['admin'] });
    t.mallory = await userToken(GLOBEX, MALLORY);
  });

  afterAll(async () => {
    await pgc?.end();
    await caller?.close();
    await svc?.close();
    await db?.drop();
  });

  describe('check', () => {
    const agent = agentRef(1);
    const task = taskRef(1);

    beforeAll(async () => {
      await register({ resource: agent, tenant: ACME, owner: `user:${ALICE}` });
      await register({ resource: task, tenant: ACME, owner: `user:${BOB}`, parent: agent });
    });

    it('inherits a grant on an agent to its tasks, and revoking it takes that away', async () => {
      expect(await check(t.carol!, 'cancel', task)).toEqual({ allowed: false, reason: 'no_relation' });
      await ok(caller, S.grant, { subject: `user:${CAROL}`, action: 'cancel', resource: agent }, t.admin!);
      expect(await check(t.carol!, 'cancel', agent)).toEqual({ allowed: true, reason: 'grant' });
      expect(await check(t.carol!, 'cancel', task)).toEqual({ allowed: true, reason: 'inherited_grant' });
      expect(await check(t.carol!, 'delete', task)).toEqual({ allowed: false, reason: 'no_relation' });
      await ok(caller, S.revoke, { subject: `user:${CAROL}`, action: 'cancel', resource: agent }, t.admin!);
      expect(await check(t.carol!, 'cancel', task)).toEqual({ allowed: false, reason: 'no_relation' });
      expect(await check(t.carol!, 'cancel', agent)).toEqual({ allowed: false, reason: 'no_relation' });
    });

    it('lets an owner do everything but admin, until admin is granted; owning the agent does not own its tasks', async () => {
      for (const action of ACTIONS.filter((a) => a !== 'admin')) {
        expect(await check(t.alice!, action, agent)).toEqual({ allowed: true, reason: 'owner' });
        expect(await check(t.bob!, action, task)).toEqual({ allowed: true, reason: 'owner' });
      }
      expect(await check(t.alice!, 'admin', agent)).toEqual({ allowed: false, reason: 'no_relation' });
      expect(await check(t.alice!, 'read', task)).toEqual({ allowed: false, reason: 'no_relation' });
      // an owner without admin cannot grant: the resource is readable to her, so FORBIDDEN
      expect(await errorCode(caller, S.grant, { subject: `user:${DAVE}`, action: 'read', resource: agent }, t.alice!)).toBe('FORBIDDEN');
      await ok(caller, S.grant, { subject: `user:${ALICE}`, action: 'admin', resource: agent }, t.admin!);
      expect(await check(t.alice!, 'admin', agent)).toEqual({ allowed: true, reason: 'grant' });
      // admin covers every action, on the agent's tasks too, and lets her grant
      expect(await check(t.alice!, 'delete', task)).toEqual({ allowed: true, reason: 'inherited_grant' });
      await ok(caller, S.grant, { subject: `user:${DAVE}`, action: 'read', resource: agent }, t.alice!);
      expect(await check(t.dave!, 'read', task)).toEqual({ allowed: true, reason: 'inherited_grant' });
      await ok(caller, S.revoke, { subject: `user:${DAVE}`, action: 'read', resource: agent }, t.alice!);
      await ok(caller, S.revoke, { subject: `user:${ALICE}`, action: 'admin', resource: agent }, t.admin!);
      expect(await check(t.alice!, 'admin', agent)).toEqual({ allowed: false, reason: 'no_relation' });
    });

    it('lets a tenant admin do everything in the tenant, and nobody unrelated', async () => {
      for (const action of ACTIONS) {
        expect(await check(t.admin!, action, task)).toEqual({ allowed: true, reason: 'tenant_admin' });
        expect((await check(t.dave!, action, task)).allowed).toBe(false);
      }
      // a grant-less caller who cannot read gets NOT_FOUND for a grant attempt
      expect(await errorCode(caller, S.grant, { subject: `user:${DAVE}`, action: 'read', resource: agent }, t.dave!)).toBe('NOT_FOUND');
    });

    it('denies EVERY action from another tenant, to its users, service accounts and tenant admins alike', async () => {
      const outsiders = [t.mallory!, t.globexSvc!, t.globexAdmin!];
      for (const token of outsiders) {
        for (const action of ACTIONS) {
          for (const resource of [agent, task]) {
            expect({ token: token.slice(-6), action, resource, d: await check(token, action, resource) }).toEqual({
              token: token.slice(-6), action, resource, d: { allowed: false, reason: 'not_found' },
            });
          }
          expect(await errorCode(caller, S.grant, { subject: `user:${MALLORY}`, action, resource: agent }, token)).toBe('NOT_FOUND');
          expect(await errorCode(caller, S.revoke, { subject: `user:${ALICE}`, action, resource: agent }, token)).toBe('NOT_FOUND');
        }
        // deregistering another tenant's resource is a no-op (it does not exist for them), registering under it is refused
        await ok(caller, S.deregister, { resource: task }, token);
        expect(await errorCode(caller, S.register, { resource: taskRef('x1'), tenant: GLOBEX, parent: agent }, token)).toBe('NOT_FOUND');
        expect(await errorCode(caller, S.register, { resource: taskRef('x2'), tenant: ACME }, token)).toBe('FORBIDDEN');
        const lookup = await ok<{ items: string[] }>(caller, S.lookup, { action: 'read', type: 'task' }, token);
        expect(lookup.items).toEqual([]);
      }
      expect(await tuplesOf(pgc, task)).toEqual([`owner@user:${BOB}`, `parent@${agent}`, `tenant@tenant:${ACME}`]);
      // a grant to a globex subject on an acme resource still allows nothing to that subject's tenant
      await ok(caller, S.grant, { subject: `user:${MALLORY}`, action: 'read', resource: agent }, t.admin!);
      expect(await check(t.mallory!, 'read', agent)).toEqual({ allowed: false, reason: 'not_found' });
      expect(await check(t.mallory!, 'read', task)).toEqual({ allowed: false, reason: 'not_found' });
      await ok(caller, S.revoke, { subject: `user:${MALLORY}`, action: 'read', resource: agent }, t.admin!);
    });

    it('denies an unregistered resource', async () => {
      expect(await check(t.admin!, 'read', taskRef('nope'))).toEqual({ allowed: false, reason: 'not_found' });
    });

    it('answers about another subject only to a tenant admin', async () => {
      expect(await errorCode(caller, S.check, { subject: `user:${ALICE}`, action: 'read', resource: agent }, t.dave!)).toBe('FORBIDDEN');
      expect(await check(t.admin!, 'read', agent, `user:${ALICE}`)).toEqual({ allowed: true, reason: 'owner' });
      expect(await check(t.admin!, 'read', agent, `user:${DAVE}`)).toEqual({ allowed: false, reason: 'no_relation' });
      // asking about oneself is always allowed
      expect(await check(t.alice!, 'read', agent, `user:${ALICE}`)).toEqual({ allowed: true, reason: 'owner' });
    });

    it('answers UNAUTHENTICATED without a token and VALIDATION for a bad body', async () => {
      expect((await caller.request(S.check, { action: 'read', resource: agent })).body).toMatchObject({ ok: false, error: { code: 'UNAUTHENTICATED' } });
      const bad = await caller.request(S.check, { action: 'fly', resource: agent }, { token: t.alice! });
      expect(bad.body).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'action' }] } } });
      const notJson = await caller.request(S.check, null, { token: t.alice!, raw: '{"action":' });
      expect(notJson.body).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
      const forged = await caller.request(S.check, { action: 'read', resource: agent }, { token: `${t.alice!.slice(0, -3)}AAA` });
      expect(forged.body).toMatchObject({ ok: false, error: { code: 'UNAUTHENTICATED' } });
    });

    it('counts checks in the usual rpc_server metrics (check skips the Nest pipeline)', async () => {
      expect(await metric(svc, 'rpc_server_requests_total', { subject: S.check, outcome: 'ok' })).toBeGreaterThan(10);
      expect(await metric(svc, 'rpc_server_requests_total', { subject: S.check, outcome: 'error' })).toBeGreaterThan(0);
      expect(await metric(svc, 'rpc_server_duration_seconds_count', { subject: S.check })).toBeGreaterThan(10);
    });
  });

  describe('register and deregister', () => {
    it('register twice writes one set of tuples; a different owner, parent or tenant is CONFLICT', async () => {
      const agent = agentRef(10);
      const task = taskRef(10);
      await register({ resource: agent, tenant: ACME, owner: `user:${ALICE}` });
      const body = { resource: task, tenant: ACME, owner: `user:${BOB}`, parent: agent };
      await register(body);
      await register(body);
      await Promise.all([register(body), register(body), register(body)]);
      expect(await tuplesOf(pgc, task)).toEqual([`owner@user:${BOB}`, `parent@${agent}`, `tenant@tenant:${ACME}`]);
      expect(await errorCode(caller, S.register, { ...body, owner: `user:${CAROL}` }, t.svc!)).toBe('CONFLICT');
      expect(await errorCode(caller, S.register, { resource: task, tenant: ACME, owner: `user:${BOB}` }, t.svc!)).toBe('CONFLICT');
      expect(await tuplesOf(pgc, task)).toHaveLength(3);
    });

    it('deregister removes every tuple of the resource, grants included, and is idempotent', async () => {
      const agent = agentRef(11);
      await register({ resource: agent, tenant: ACME, owner: `user:${ALICE}` });
      for (const action of ['read', 'write', 'admin']) await ok(caller, S.grant, { subject: `user:${CAROL}`, action, resource: agent }, t.admin!);
      expect(await tuplesOf(pgc, agent)).toHaveLength(5);
      await ok(caller, S.deregister, { resource: agent }, t.svc!);
      expect(await tuplesOf(pgc, agent)).toEqual([]);
      await ok(caller, S.deregister, { resource: agent }, t.svc!);
      expect(await check(t.carol!, 'read', agent)).toEqual({ allowed: false, reason: 'not_found' });
    });

    it('lets a user deregister only what it may delete', async () => {
      const agent = agentRef(12);
      await register({ resource: agent, tenant: ACME, owner: `user:${ALICE}` });
      expect(await errorCode(caller, S.deregister, { resource: agent }, t.dave!)).toBe('NOT_FOUND');
      await ok(caller, S.grant, { subject: `user:${DAVE}`, action: 'read', resource: agent }, t.admin!);
      expect(await errorCode(caller, S.deregister, { resource: agent }, t.dave!)).toBe('FORBIDDEN');
      await ok(caller, S.deregister, { resource: agent }, t.alice!);
      expect(await tuplesOf(pgc, agent)).toEqual([]);
    });

    it('lets a user register only what it owns itself, under a parent it may write', async () => {
      const agent = agentRef(13);
      await register({ resource: agent, tenant: ACME, owner: `user:${ALICE}` });
      expect(await errorCode(caller, S.register, { resource: taskRef(13), tenant: ACME, owner: `user:${CAROL}` }, t.bob!)).toBe('FORBIDDEN');
      expect(await errorCode(caller, S.register, { resource: taskRef(13), tenant: ACME, owner: `user:${BOB}`, parent: agent }, t.bob!)).toBe('NOT_FOUND');
      await ok(caller, S.register, { resource: taskRef(13), tenant: ACME, owner: `user:${ALICE}`, parent: agent }, t.alice!);
      expect(await tuplesOf(pgc, taskRef(13))).toHaveLength(3);
    });

    it('is atomic: a failure after the first tuple leaves nothing of the resource written', async () => {
      const agent = agentRef(20);
      const task = taskRef(20);
      await register({ resource: agent, tenant: ACME });
      await pgc.query(`CREATE FUNCTION fail_parent() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'injected failure on the parent tuple'; END $$`);
      await pgc.query(`CREATE TRIGGER fail_parent BEFORE INSERT ON tuples FOR EACH ROW WHEN (NEW.relation = 'parent') EXECUTE FUNCTION fail_parent()`);
      try {
        const res = await caller.request(S.register, { resource: task, tenant: ACME, owner: `user:${BOB}`, parent: agent }, { token: t.svc! });
        expect(res.body).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
        expect(JSON.stringify(res.body)).not.toContain('injected');
        expect(await tuplesOf(pgc, task)).toEqual([]);
      } finally {
        await pgc.query('DROP TRIGGER fail_parent ON tuples');
      }
      await register({ resource: task, tenant: ACME, owner: `user:${BOB}`, parent: agent });
      expect(await tuplesOf(pgc, task)).toHaveLength(3);
    });

    it('is atomic on deregister too: a failure on the grant rows leaves every tuple in place', async () => {
      const agent = agentRef(21);
      await register({ resource: agent, tenant: ACME, owner: `user:${ALICE}` });
      await ok(caller, S.grant, { subject: `user:${CAROL}`, action: 'write', resource: agent }, t.admin!);
      await pgc.query(`CREATE TRIGGER fail_grant_delete BEFORE DELETE ON tuples FOR EACH ROW WHEN (OLD.relation = 'write') EXECUTE FUNCTION fail_parent()`);
      try {
        expect(await errorCode(caller, S.deregister, { resource: agent }, t.svc!)).toBe('INTERNAL');
        expect(await tuplesOf(pgc, agent)).toEqual([`owner@user:${ALICE}`, `tenant@tenant:${ACME}`, `write@user:${CAROL}`]);
      } finally {
        await pgc.query('DROP TRIGGER fail_grant_delete ON tuples');
      }
    });

    it('refuses a cycle through parents and a tree deeper than the bound', async () => {
      const a = agentRef(30);
      const b = taskRef(30);
      await register({ resource: a, tenant: ACME });
      await register({ resource: b, tenant: ACME, parent: a });
      expect(await errorCode(caller, S.register, { resource: a, tenant: ACME, parent: a }, t.svc!)).toBe('CONFLICT');
      // deregistering the agent leaves the task pointing at it; re-registering the agent under the task would close a loop
      await ok(caller, S.deregister, { resource: a }, t.svc!);
      // (while its deregistration is remembered, a register call of it is a late one and writes nothing)
      await ok(caller, S.register, { resource: a, tenant: ACME, parent: b }, t.svc!);
      await pgc.query('DELETE FROM deregistered_resources WHERE resource = $1', [a]); // past its retention
      expect(await errorCode(caller, S.register, { resource: a, tenant: ACME, parent: b }, t.svc!)).toBe('CONFLICT');
      expect(await tuplesOf(pgc, a)).toEqual([]);
      // a chain of 8 parents is the deepest accepted (AUTHZ_MAX_DEPTH, default 8)
      const chain = Array.from({ length: 10 }, (_, i) => `workspace:w31-${i}`);
      await register({ resource: chain[0]!, tenant: ACME });
      for (let i = 1; i <= 8; i++) await register({ resource: chain[i]!, tenant: ACME, parent: chain[i - 1]! });
      expect(await errorCode(caller, S.register, { resource: chain[9]!, tenant: ACME, parent: chain[8]! }, t.svc!)).toBe('VALIDATION');
      await ok(caller, S.grant, { subject: `user:${CAROL}`, action: 'execute', resource: chain[0]! }, t.admin!);
      expect(await check(t.carol!, 'execute', chain[8]!)).toEqual({ allowed: true, reason: 'inherited_grant' });
    });

    it('refuses a parent of another tenant as if it did not exist', async () => {
      const globexAgent = agentRef(40);
      await ok(caller, S.register, { resource: globexAgent, tenant: GLOBEX }, t.globexSvc!);
      expect(await errorCode(caller, S.register, { resource: taskRef(40), tenant: ACME, parent: globexAgent }, t.svc!)).toBe('NOT_FOUND');
      expect(await errorCode(caller, S.register, { resource: taskRef(40), tenant: ACME, parent: agentRef(41) }, t.svc!)).toBe('NOT_FOUND');
    });
  });

  describe('lookup', () => {
    it('pages through 1,000 resources without loss or duplicates, and only the readable ones', async () => {
      const agent = agentRef(50);
      await register({ resource: agent, tenant: ACME, owner: `user:${ALICE}` });
      const tasks = Array.from({ length: 1000 }, (_, i) => taskRef(`5${String(i).padStart(4, '0')}`));
      for (let i = 0; i < tasks.length; i += 100) {
        await Promise.all(tasks.slice(i, i + 100).map((task) => register({ resource: task, tenant: ACME, parent: agent })));
      }
      const other = taskRef(59999);
      await register({ resource: other, tenant: ACME });
      await ok(caller, S.grant, { subject: `user:${CAROL}`, action: 'read', resource: agent }, t.admin!);

      const pageThrough = async (token: string, limit: number) => {
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await ok<{ items: string[]; nextCursor: string | null }>(caller, S.lookup, { action: 'read', type: 'task', limit, ...(cursor ? { cursor } : {}) }, token);
          expect(page.items.length).toBeLessThanOrEqual(limit);
          seen.push(...page.items);
          cursor = page.nextCursor ?? undefined;
          pages++;
        } while (cursor);
        return { seen, pages };
      };
      const carol = await pageThrough(t.carol!, 97);
      expect(carol.seen).toHaveLength(1000);
      expect(new Set(carol.seen).size).toBe(1000);
      expect([...carol.seen].sort()).toEqual([...tasks].sort());
      expect(carol.pages).toBe(11);
      // the tenant admin sees every task of the tenant, those from the other tests too
      const admin = await pageThrough(t.admin!, 500);
      expect(new Set(admin.seen).size).toBe(admin.seen.length);
      expect(admin.seen).toEqual(expect.arrayContaining([...tasks, other]));
      // an exact multiple of the page size ends with a null cursor, not an empty extra page
      const exact = await ok<{ items: string[]; nextCursor: string | null }>(caller, S.lookup, { action: 'read', type: 'agent', limit: 500 }, t.alice!);
      expect(exact.nextCursor).toBeNull();
      expect(await errorCode(caller, S.lookup, { action: 'read', type: 'task', cursor: 'bm9wZQ' }, t.carol!)).toBe('VALIDATION');
    });
  });

  describe('rollout modes', () => {
    const agent = agentRef(60);

    beforeAll(async () => {
      await register({ resource: agent, tenant: ACME, owner: `user:${ALICE}` });
    });

    afterAll(async () => {
      await ok(caller, S.setMode, { tenantId: ACME, mode: 'enforce' }, t.admin!);
    });

    it('lets only a tenant admin set its own tenant\'s mode', async () => {
      expect(await errorCode(caller, S.setMode, { tenantId: ACME, mode: 'legacy' }, t.alice!)).toBe('FORBIDDEN');
      expect(await errorCode(caller, S.setMode, { tenantId: ACME, mode: 'legacy' }, t.globexAdmin!)).toBe('FORBIDDEN');
      expect(await ok(caller, S.setMode, { tenantId: ACME, mode: 'legacy' }, t.admin!)).toEqual({ tenantId: ACME, mode: 'legacy' });
    });

    it('legacy allows any member of the resource\'s tenant, never another tenant', async () => {
      await ok(caller, S.setMode, { tenantId: ACME, mode: 'legacy' }, t.admin!);
      expect(await check(t.dave!, 'delete', agent)).toEqual({ allowed: true, reason: 'tenant_member' });
      expect(await check(t.mallory!, 'read', agent)).toEqual({ allowed: false, reason: 'not_found' });
    });

    it('shadow returns the legacy decision and counts (and logs, without ids) each disagreement', async () => {
      await ok(caller, S.setMode, { tenantId: ACME, mode: 'shadow' }, t.admin!);
      const before = await metric(svc, 'authz_shadow_mismatch_total', { action: 'delete', type: 'agent' });
      expect(await check(t.dave!, 'delete', agent)).toEqual({ allowed: true, reason: 'tenant_member' });
      expect(await check(t.dave!, 'delete', agent)).toEqual({ allowed: true, reason: 'tenant_member' });
      // agreement (the owner) is not counted
      expect(await check(t.alice!, 'delete', agent)).toEqual({ allowed: true, reason: 'tenant_member' });
      expect(await metric(svc, 'authz_shadow_mismatch_total', { action: 'delete', type: 'agent' })).toBe(before + 2);
      const lines = logs.lines.filter((l) => l.includes('authz shadow mismatch'));
      expect(lines.length).toBeGreaterThanOrEqual(2);
      for (const l of lines) {
        expect(l).not.toContain(DAVE);
        expect(l).not.toContain(ACME);
        expect(l).not.toContain(agent.slice(6));
      }
    });

    it('enforce returns the fine-grained decision', async () => {
      await ok(caller, S.setMode, { tenantId: ACME, mode: 'enforce' }, t.admin!);
      expect(await check(t.dave!, 'delete', agent)).toEqual({ allowed: false, reason: 'no_relation' });
    });
  });

  it('uses AUTHZ_DEFAULT_MODE for a tenant that has no mode set', async () => {
    const prefix2 = testPrefix('authz_default');
    const legacyByDefault = await startAuthz(db, prefix2, { AUTHZ_DEFAULT_MODE: 'legacy' });
    const c2 = await NatsCaller.connect(prefix2, 'lib-test');
    try {
      const agent = agentRef(70);
      const initech = await serviceAccountToken('initech', SVC);
      await ok(c2, S.register, { resource: agent, tenant: 'initech' }, initech);
      expect(decisionOf(await ok<{ allowed: boolean; reason: string }>(c2, S.check, { action: 'delete', resource: agent }, await userToken('initech', DAVE)))).toEqual({ allowed: true, reason: 'tenant_member' });
      // acme has its mode set (enforce), so the default does not apply to it
      expect(decisionOf(await ok<{ allowed: boolean; reason: string }>(c2, S.check, { action: 'delete', resource: agentRef(60) }, t.dave!))).toEqual({ allowed: false, reason: 'no_relation' });
    } finally {
      await c2.close();
      await legacyByDefault.close();
    }
  });
});

describe('authz-proxy mutations under an idempotency key', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let caller: NatsCaller;
  const prefix = testPrefix('authz_idem');

  beforeAll(async () => {
    db = await authzDatabase();
    svc = await startAuthz(db, prefix);
    caller = await NatsCaller.connect(prefix, 'lib-test');
  });

  afterAll(async () => {
    await caller?.close();
    await svc?.close();
    await db?.drop();
  });

  it('replays a retried grant and refuses the key with another payload', async () => {
    const svcToken = await serviceAccountToken(ACME, SVC);
    const admin = await userToken(ACME, ACME_ADMIN, { roles: ['admin'] });
    await ok(caller, 'authz.v1.register', { resource: agentRef(1), tenant: ACME }, svcToken);
    const body = { subject: `user:${CAROL}`, action: 'read', resource: agentRef(1) };
    const first = await caller.request('authz.v1.grant', body, { token: admin, idempotencyKey: 'grant-1' });
    const again = await caller.request('authz.v1.grant', body, { token: admin, idempotencyKey: 'grant-1' });
    expect(first.body).toEqual({ ok: true, data: { ...body, created: true } });
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const other = await caller.request('authz.v1.grant', { ...body, action: 'write' }, { token: admin, idempotencyKey: 'grant-1' });
    expect(other.body).toMatchObject({ ok: false, error: { code: 'IDEMPOTENCY_MISMATCH' } });

    // Transaction mode under a race: one request runs, every other one replays it or is told it is in progress.
    const raced = { subject: `user:${CAROL}`, action: 'cancel', resource: agentRef(1) };
    const replies = await Promise.all(Array.from({ length: 25 }, () => caller.request('authz.v1.grant', raced, { token: admin, idempotencyKey: 'grant-race' })));
    for (const r of replies) {
      if (r.body.ok) expect(r.body.data).toEqual({ ...raced, created: true });
      else expect(r.body.error?.code).toBe('IDEMPOTENCY_IN_PROGRESS');
    }
    expect(replies.filter((r) => r.body.ok && r.headers['idempotent-replayed'] !== 'true')).toHaveLength(1);
  });
});
