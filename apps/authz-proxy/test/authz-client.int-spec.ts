import { Controller, Module } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { AuthModule, Authenticated, CurrentPrincipal } from '@agentplane/auth';
import { AuthzClient, AuthzClientModule } from '@agentplane/authz-client';
import type { Action } from '@agentplane/contracts';
import type { Principal } from '@agentplane/domain';
import { MessagingModule } from '@agentplane/messaging';
import { loggingModule } from '@agentplane/observability';
import type { TestDatabase } from '@agentplane/persistence';
import { NATS_URL, NatsCaller, testNatsAuth, TEST_AUTH, serviceAccountToken, startTestService, testPrefix, userToken, type RunningService } from '@agentplane/testing';
import { ACME, ALICE, CAROL, DAVE, GLOBEX, MALLORY, SVC, agentRef, taskRef } from './constants.js';
import { authzDatabase, ok, startAuthz } from './setup.js';

/** A stand-in backend service: one NATS handler guarded by AuthzClient.require, as tasks would use it. */
@Controller()
class DemoRpc {
  constructor(private readonly authz: AuthzClient) {}

  @Authenticated()
  @MessagePattern('demo.v1.act')
  async act(@Payload() body: { action: Action; resource: string }, @CurrentPrincipal() principal: Principal) {
    await this.authz.require(principal, body.action, body.resource);
    return { done: true };
  }

  @Authenticated()
  @MessagePattern('demo.v1.list')
  list(@Payload() body: { type: string }, @CurrentPrincipal() principal: Principal) {
    return this.authz.lookup(principal, 'read', body.type, { limit: 10 });
  }
}

function demoModule(prefix: string) {
  @Module({
    imports: [
      loggingModule({ service: 'demo', level: 'warn' }),
      MessagingModule.forRoot({ servers: NATS_URL, prefix, name: 'demo', auth: testNatsAuth('lib-test') }),
      AuthModule.forRoot({ jwtSecret: TEST_AUTH.secret, issuer: TEST_AUTH.issuer, audience: TEST_AUTH.audience, extraIssuers: [] }),
      AuthzClientModule.forRoot({ decisionCache: { enabled: false } }),
    ],
    controllers: [DemoRpc],
  })
  class DemoModule {}
  return DemoModule;
}

describe('AuthzClient.require against the real authz-proxy (a service forwarding its caller\'s token)', () => {
  let db: TestDatabase;
  let authz: RunningService;
  let demo: RunningService;
  let caller: NatsCaller;
  const prefix = testPrefix('authz_client');
  const agent = agentRef(1);
  const task = taskRef(1);
  let carol: string;
  let dave: string;
  let mallory: string;

  beforeAll(async () => {
    db = await authzDatabase();
    authz = await startAuthz(db, prefix);
    demo = await startTestService(demoModule(prefix), { service: 'demo', prefix, identity: 'lib-test' });
    caller = await NatsCaller.connect(prefix, 'lib-test');
    const svc = await serviceAccountToken(ACME, SVC);
    await ok(caller, 'authz.v1.register', { resource: agent, tenant: ACME, owner: `user:${ALICE}` }, svc);
    await ok(caller, 'authz.v1.register', { resource: task, tenant: ACME, parent: agent }, svc);
    const admin = await userToken(ACME, 'root', { roles: ['admin'] });
    await ok(caller, 'authz.v1.grant', { subject: `user:${CAROL}`, action: 'read', resource: agent }, admin);
    carol = await userToken(ACME, CAROL);
    dave = await userToken(ACME, DAVE);
    mallory = await userToken(GLOBEX, MALLORY);
  });

  afterAll(async () => {
    await caller?.close();
    await demo?.close();
    await authz?.close();
    await db?.drop();
  });

  const act = (token: string, action: Action, resource: string) => caller.request('demo.v1.act', { action, resource }, { token });

  it('passes an allowed action (an inherited grant)', async () => {
    expect((await act(carol, 'read', task)).body).toEqual({ ok: true, data: { done: true } });
  });

  it('answers FORBIDDEN for a mutation on a resource the caller can read', async () => {
    expect((await act(carol, 'cancel', task)).body).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
  });

  it('answers NOT_FOUND for a denied read, and for a mutation on a resource the caller cannot read', async () => {
    expect((await act(dave, 'read', task)).body).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect((await act(dave, 'cancel', task)).body).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });

  it('never reveals existence: another tenant gets exactly the answer of a resource that does not exist', async () => {
    for (const action of ['read', 'delete', 'admin'] as const) {
      const existing = await act(mallory, action, task);
      const missing = await act(mallory, action, taskRef(999));
      expect(existing.body).toEqual(missing.body);
      expect(existing.body).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    }
  });

  it('pages lookups with the caller\'s token', async () => {
    const res = await caller.request('demo.v1.list', { type: 'task' }, { token: carol });
    expect(res.body).toEqual({ ok: true, data: { ids: [task.slice(5)], nextCursor: null } });
  });
});
