import type { NatsConnection } from '@nats-io/transport-node';
import type { TestDatabase } from '@agentplane/persistence';
import { NatsCaller, connectAs, serviceAccountToken, testPrefix, userToken, type RunningService } from '@agentplane/testing';
import { ACME, ACME_ADMIN, DAVE, GLOBEX, GLOBEX_ADMIN, SVC, agentRef, taskRef } from './constants.js';
import { authzDatabase, errorCode, ok, sql, startAuthz } from './setup.js';

interface Status {
  tenantId: string;
  mode: string;
  coverage: Record<string, { rows: number | null; registered: number }>;
  shadowMismatches: number;
  modeSetBy: string | null;
  modeSetAt: string | null;
}

/** `authz.v1.tenant_status` (DESIGN §3): what an operator looks at before moving a tenant to enforce. */
describe('authz.v1.tenant_status', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let caller: NatsCaller;
  let owner: NatsConnection;
  const prefix = testPrefix('authz_status');
  const t: Record<string, string> = {};
  let counts: Record<string, number> | 'silent' = { agent: 2, task: 3 };

  const status = (token: string, tenantId = ACME) => ok<Status>(caller, 'authz.v1.tenant_status', { tenantId }, token);

  beforeAll(async () => {
    db = await authzDatabase();
    svc = await startAuthz(db, prefix, { AUTHZ_RESOURCE_FACTS_TIMEOUT_MS: '1000', AUTHZ_DEFAULT_MODE: 'legacy' });
    caller = await NatsCaller.connect(prefix, 'lib-test');
    // the tasks service's side of the internal count subject (only authz-proxy may ask it)
    owner = await connectAs('tasks');
    owner.subscribe(`${prefix}tasks.internal.v1.resource_counts`, {
      queue: 'tasks',
      callback: (err, msg) => {
        if (!err && counts !== 'silent') msg.respond(JSON.stringify({ ok: true, data: { counts } }));
      },
    });
    await owner.flush();
    t.svc = await serviceAccountToken(ACME, SVC);
    t.dave = await userToken(ACME, DAVE);
    t.admin = await userToken(ACME, ACME_ADMIN, { roles: ['admin'] });
    t.globexAdmin = await userToken(GLOBEX, GLOBEX_ADMIN, { roles: ['admin'] });
    await ok(caller, 'authz.v1.register', { resource: agentRef(301), tenant: ACME }, t.svc);
    await ok(caller, 'authz.v1.register', { resource: taskRef(301), tenant: ACME, parent: agentRef(301) }, t.svc);
    await ok(caller, 'authz.v1.register', { resource: taskRef(302), tenant: ACME, parent: agentRef(301) }, t.svc);
  });

  afterAll(async () => {
    await owner?.close();
    await caller?.close();
    await svc?.close();
    await db?.drop();
  });

  it('reports the mode, the owner\'s rows against the registrations per type, and no mismatches yet', async () => {
    expect(await status(t.admin!)).toEqual({
      tenantId: ACME,
      mode: 'legacy',
      // hook-registry and workspace-installer are not running here: their types are there, rows unknown
      coverage: { agent: { rows: 2, registered: 1 }, task: { rows: 3, registered: 2 }, hook: { rows: null, registered: 0 }, release: { rows: null, registered: 0 }, run: { rows: null, registered: 0 }, workspace: { rows: null, registered: 0 } },
      shadowMismatches: 0,
      // the default mode: nobody set it
      modeSetBy: null,
      modeSetAt: null,
    });
  });

  it('counts the shadow mismatches of the tenant', async () => {
    await ok(caller, 'authz.v1.set_mode', { tenantId: ACME, mode: 'shadow' }, t.admin!);
    for (let i = 0; i < 3; i++) expect((await ok<{ allowed: boolean }>(caller, 'authz.v1.check', { action: 'write', resource: taskRef(301) }, t.dave!)).allowed).toBe(true);
    await ok(caller, 'authz.v1.check', { action: 'write', resource: taskRef(301) }, t.admin!); // agrees: not counted
    const deadline = Date.now() + 3_000;
    let s = await status(t.admin!);
    while (s.shadowMismatches < 3 && Date.now() < deadline) s = await status(t.admin!);
    // who moved the tenant to shadow, and when
    expect(s).toMatchObject({ mode: 'shadow', shadowMismatches: 3, modeSetBy: `user:${ACME_ADMIN}` });
    expect(Date.now() - Date.parse(s.modeSetAt ?? '')).toBeLessThan(60_000);
    expect((await status(t.globexAdmin!, GLOBEX)).shadowMismatches).toBe(0);
    // the count is a bigint: past 2^31 it is still read (an int cast failed there, and the status with it)
    const c = await sql(db);
    try {
      await c.query("UPDATE shadow_mismatches SET mismatches = 3000000000 WHERE tenant_id = $1", [ACME]);
    } finally {
      await c.end();
    }
    expect((await status(t.admin!)).shadowMismatches).toBe(3_000_000_000);
  });

  it('says rows: null when the owning service does not answer', async () => {
    counts = 'silent';
    expect((await status(t.admin!)).coverage).toMatchObject({ agent: { rows: null, registered: 1 }, task: { rows: null, registered: 2 } });
    counts = { agent: 2, task: 3 };
  });

  it('is for the tenant\'s admins only', async () => {
    expect(await errorCode(caller, 'authz.v1.tenant_status', { tenantId: ACME }, t.dave!)).toBe('FORBIDDEN');
    expect(await errorCode(caller, 'authz.v1.tenant_status', { tenantId: ACME }, t.globexAdmin!)).toBe('FORBIDDEN');
  });
});
