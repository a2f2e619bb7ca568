import type { TestDatabase } from '@agentplane/persistence';
import { NatsCaller, serviceAccountToken, testPrefix, userToken, type RunningService } from '@agentplane/testing';
import { ACME, ACME_ADMIN, ALICE, BOB, CAROL, DAVE, GLOBEX, GLOBEX_ADMIN, SVC, agentRef, taskRef } from './constants.js';
import { authzDatabase, errorCode, ok, startAuthz, decisionOf } from './setup.js';

interface Explanation {
  allowed: boolean;
  reason: string;
  path: string[];
}

/** `authz.v1.explain` (DESIGN §3): check's answer with the tuples behind it. */
describe('authz.v1.explain', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let caller: NatsCaller;
  const prefix = testPrefix('authz_explain');
  const t: Record<string, string> = {};
  const agent = agentRef(201);
  const task = taskRef(201);

  const explain = (token: string, action: string, resource: string, subject?: string) =>
    ok<Explanation>(caller, 'authz.v1.explain', { action, resource, ...(subject ? { subject } : {}) }, token);
  const check = (token: string, action: string, resource: string, subject?: string) =>
    ok<{ allowed: boolean; reason: string; revision?: string }>(caller, 'authz.v1.check', { action, resource, ...(subject ? { subject } : {}) }, token).then(decisionOf);

  beforeAll(async () => {
    db = await authzDatabase();
    svc = await startAuthz(db, prefix);
    caller = await NatsCaller.connect(prefix, 'lib-test');
    t.svc = await serviceAccountToken(ACME, SVC);
    t.alice = await userToken(ACME, ALICE);
    t.bob = await userToken(ACME, BOB);
    t.carol = await userToken(ACME, CAROL);
    t.dave = await userToken(ACME, DAVE);
    t.admin = await userToken(ACME, ACME_ADMIN, { roles: ['admin'] });
    t.globexAdmin = await userToken(GLOBEX, GLOBEX_ADMIN, { roles: ['admin'] });
    await ok(caller, 'authz.v1.register', { resource: agent, tenant: ACME, owner: `user:${ALICE}` }, t.svc);
    await ok(caller, 'authz.v1.register', { resource: task, tenant: ACME, owner: `user:${BOB}`, parent: agent }, t.svc);
    await ok(caller, 'authz.v1.grant', { subject: `user:${CAROL}`, action: 'read', resource: agent }, t.admin);
    await ok(caller, 'authz.v1.grant', { subject: `user:${CAROL}`, action: 'admin', resource: task }, t.admin);
  });

  afterAll(async () => {
    await caller?.close();
    await svc?.close();
    await db?.drop();
  });

  it('explains an owner, a tenant admin, a direct grant and an inherited one by the tuples that granted them', async () => {
    expect(await explain(t.bob!, 'delete', task)).toEqual({ allowed: true, reason: 'owner', path: [`${task}#tenant@tenant:${ACME}`, `${task}#owner@user:${BOB}`] });
    expect(await explain(t.admin!, 'admin', task)).toEqual({ allowed: true, reason: 'tenant_admin', path: [`${task}#tenant@tenant:${ACME}`, `tenant:${ACME}#admin@user:${ACME_ADMIN}`] });
    expect(await explain(t.carol!, 'read', agent)).toEqual({ allowed: true, reason: 'grant', path: [`${agent}#tenant@tenant:${ACME}`, `${agent}#read@user:${CAROL}`] });
    // admin on the task covers cancel directly; read on the task comes from the agent
    expect(await explain(t.carol!, 'cancel', task)).toEqual({ allowed: true, reason: 'grant', path: [`${task}#tenant@tenant:${ACME}`, `${task}#admin@user:${CAROL}`] });
    await ok(caller, 'authz.v1.revoke', { subject: `user:${CAROL}`, action: 'admin', resource: task }, t.admin!);
    expect(await explain(t.carol!, 'read', task)).toEqual({
      allowed: true,
      reason: 'inherited_grant',
      path: [`${task}#tenant@tenant:${ACME}`, `${task}#parent@${agent}`, `${agent}#read@user:${CAROL}`],
    });
  });

  it('lists what was checked and missing when denied, and says nothing about another tenant\'s resource', async () => {
    expect(await explain(t.dave!, 'write', task)).toEqual({
      allowed: false,
      reason: 'no_relation',
      path: [
        `${task}#tenant@tenant:${ACME}`,
        `missing tenant:${ACME}#admin@user:${DAVE}`,
        `missing ${task}#owner@user:${DAVE}`,
        `missing ${task}#write@user:${DAVE}`,
        `missing ${task}#admin@user:${DAVE}`,
        `${task}#parent@${agent}`,
        `missing ${agent}#write@user:${DAVE}`,
        `missing ${agent}#admin@user:${DAVE}`,
      ],
    });
    expect(await explain(t.globexAdmin!, 'read', task)).toEqual({ allowed: false, reason: 'not_found', path: [`missing ${task}#tenant@tenant:${GLOBEX}`] });
  });

  it('answers exactly as check does, in every mode, for every asker', async () => {
    for (const mode of ['enforce', 'legacy', 'shadow'] as const) {
      await ok(caller, 'authz.v1.set_mode', { tenantId: ACME, mode }, t.admin!);
      for (const token of [t.alice!, t.bob!, t.carol!, t.dave!, t.admin!, t.globexAdmin!]) {
        for (const action of ['read', 'write', 'admin']) {
          for (const resource of [agent, task, agentRef(299)]) {
            const e = await explain(token, action, resource);
            expect([mode, action, resource, { allowed: e.allowed, reason: e.reason }]).toEqual([mode, action, resource, await check(token, action, resource)]);
          }
        }
      }
    }
    const legacy = await explain(t.dave!, 'read', task);
    expect(legacy).toEqual({ allowed: true, reason: 'tenant_member', path: [`${task}#tenant@tenant:${ACME}`, `tenant:${ACME}#member@user:${DAVE}`] });
    await ok(caller, 'authz.v1.set_mode', { tenantId: ACME, mode: 'enforce' }, t.admin!);
  });

  it('about another subject needs the tenant admin role, like check', async () => {
    expect(await errorCode(caller, 'authz.v1.explain', { subject: `user:${CAROL}`, action: 'read', resource: task }, t.dave!)).toBe('FORBIDDEN');
    expect((await explain(t.admin!, 'read', task, `user:${CAROL}`)).path).toEqual([`${task}#tenant@tenant:${ACME}`, `${task}#parent@${agent}`, `${agent}#read@user:${CAROL}`]);
    expect(await errorCode(caller, 'authz.v1.explain', { action: 'read', resource: task, owner: `user:${DAVE}` }, t.dave!)).toBe('VALIDATION');
  });
});
