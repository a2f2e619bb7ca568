import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { inTransaction, SqlPool, type TestDatabase } from '@agentplane/persistence';
import { AUTHZ_REVISION_SUBJECT, RevisionNotice } from '@agentplane/contracts';
import { NatsCaller, connectAs, serviceAccountToken, testPrefix, userToken, type RunningService } from '@agentplane/testing';
import type { NatsConnection } from '@nats-io/transport-node';
import { ReadPool, TuplesRepository, type TenantRevision } from '../src/authz/tuples.repository.js';
import { ACME, ACME_ADMIN, ALICE, BOB, CAROL, GLOBEX, SVC, agentRef, taskRef } from './constants.js';
import { authzDatabase, ok, startAuthz, waitFor } from './setup.js';

/**
 * The revision of a tenant's decisions (DESIGN §3, the decision cache): bumped in the transaction of every change that
 * can take access away in the tenant and of nothing else, read by every check with its facts, and announced after the
 * commit (before the change's reply) and in a beacon.
 */
describe('authz-proxy: a tenant\'s revision moves with every change that can take access away, and only then', () => {
  let db: TestDatabase;
  let writes: SqlPool;
  let reads: ReadPool;
  let repo: TuplesRepository;
  const announced: TenantRevision[][] = [];
  const revisionOf = async (tenantId: string) =>
    (await repo.checkFacts({ resource: agentRef(1), subject: `user:${CAROL}`, action: 'read', tenantId, maxDepth: 8 })).revision;
  /** What `change` announced (and the revision acme's checks read after it). */
  const after = async (change: () => Promise<unknown>) => {
    announced.length = 0;
    await change();
    return { announced: announced.flat(), acme: await revisionOf(ACME), globex: await revisionOf(GLOBEX) };
  };
  const event = (n: number, e: object) => ({ eventId: `ev-${n}`, subject: 'events.tasks.test', ...e }) as never;

  beforeAll(async () => {
    db = await authzDatabase();
    writes = new SqlPool({ url: db.url, max: 2 });
    reads = new ReadPool({ url: db.url, max: 2 });
    repo = new TuplesRepository(writes, reads);
    repo.onRevision(async (r) => void announced.push(r));
  });

  afterAll(async () => {
    await writes?.end();
    await reads?.end();
    await db?.drop();
  });

  it('reads 0 before any change; a registration and a grant add access and leave it', async () => {
    expect(
      await after(() =>
        repo.transaction(async (tx) => {
          await repo.register(tx, { resource: agentRef(1), tenant: ACME, owner: `user:${ALICE}` }, 8);
          await repo.register(tx, { resource: agentRef(2), tenant: ACME, owner: `user:${ALICE}` }, 8);
          await repo.register(tx, { resource: taskRef(1), tenant: ACME, owner: `user:${BOB}`, parent: agentRef(1) }, 8);
          await repo.grant(tx, { tenantId: ACME, resource: agentRef(1), action: 'read', subject: `user:${CAROL}`, grantedBy: 'user:root' });
        }),
      ),
    ).toEqual({ announced: [], acme: '0', globex: '0' });
    expect(await after(() => repo.applyBatchOnce([event(1, { kind: 'register', registration: { resource: taskRef(2), tenant: ACME, parent: agentRef(1) } })], 8))).toEqual({ announced: [], acme: '0', globex: '0' });
  });

  it('a revocation bumps its tenant once it removed a grant (announced after the commit); revoking nothing does not', async () => {
    const g = { tenantId: ACME, resource: agentRef(1), action: 'read' as const, subject: `user:${CAROL}`, by: 'user:root' };
    expect(await after(() => repo.revoke(g))).toEqual({ announced: [{ tenant: ACME, rev: '1' }], acme: '1', globex: '0' });
    expect(await after(() => repo.revoke(g))).toEqual({ announced: [], acme: '1', globex: '0' });
  });

  it('a rollout mode change bumps its tenant', async () => {
    expect(await after(() => repo.setMode(GLOBEX, 'shadow', 'user:root'))).toEqual({ announced: [{ tenant: GLOBEX, rev: '1' }], acme: '1', globex: '1' });
    expect(await after(() => repo.setMode(ACME, 'enforce', 'user:root'))).toEqual({ announced: [{ tenant: ACME, rev: '2' }], acme: '2', globex: '1' });
  });

  it('a reparent that moves bumps its tenant; one to the same parent does not', async () => {
    expect(await after(() => repo.applyBatchOnce([event(2, { kind: 'reparent', resource: taskRef(1), parent: agentRef(2) })], 8))).toEqual({ announced: [{ tenant: ACME, rev: '3' }], acme: '3', globex: '1' });
    expect(await after(() => repo.applyBatchOnce([event(3, { kind: 'reparent', resource: taskRef(1), parent: agentRef(2) })], 8))).toEqual({ announced: [], acme: '3', globex: '1' });
  });

  it('a deregistration bumps its tenant, from an event or a call; one of a resource never registered does not', async () => {
    expect(await after(() => repo.applyBatchOnce([event(4, { kind: 'deregister', resource: taskRef(2) })], 8))).toEqual({ announced: [{ tenant: ACME, rev: '4' }], acme: '4', globex: '1' });
    expect(await after(() => repo.transaction((tx) => repo.deregister(tx, taskRef(1))))).toEqual({ announced: [{ tenant: ACME, rev: '5' }], acme: '5', globex: '1' });
    expect(await after(() => repo.transaction((tx) => repo.deregister(tx, taskRef(99))))).toEqual({ announced: [], acme: '5', globex: '1' });
    expect(await after(() => repo.applyBatchOnce([event(5, { kind: 'deregister', resource: taskRef(98) })], 8))).toEqual({ announced: [], acme: '5', globex: '1' });
  });

  it('a change rolled back bumps and announces nothing; one outside the repository\'s transactions is refused', async () => {
    await expect(
      after(() =>
        repo.transaction(async (tx) => {
          await repo.deregister(tx, agentRef(2));
          throw new Error('boom');
        }),
      ),
    ).rejects.toThrow('boom');
    expect(announced).toEqual([]);
    expect(await revisionOf(ACME)).toBe('5');
    await expect(inTransaction(writes, (tx) => repo.deregister(tx, agentRef(2)))).rejects.toThrow(/must run in TuplesRepository.transaction/);
    expect(await revisionOf(ACME)).toBe('5');
  });

  it('tells the beacon the revisions bumped lately', async () => {
    expect((await repo.recentRevisions(60_000)).sort((a, b) => a.tenant.localeCompare(b.tenant))).toEqual([
      { tenant: ACME, rev: '5' },
      { tenant: GLOBEX, rev: '1' },
    ]);
    await writes.$executeRawUnsafe(`UPDATE authz_revisions SET changed_at = clock_timestamp() - interval '1 minute' WHERE tenant_id = $1`, GLOBEX);
    expect(await repo.recentRevisions(30_000)).toEqual([{ tenant: ACME, rev: '5' }]);
  });
});

describe('authz-proxy over NATS: allowed answers carry their revision, and a change is announced before its reply', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let nc: NatsConnection;
  let caller: NatsCaller;
  const prefix = testPrefix('authz_rev');
  const notices: RevisionNotice[] = [];
  const t: Record<string, string> = {};
  const check = (token: string, action: string, resource: string) => ok<{ allowed: boolean; reason: string; revision?: string }>(caller, 'authz.v1.check', { action, resource }, token);

  beforeAll(async () => {
    db = await authzDatabase();
    svc = await startAuthz(db, prefix, { AUTHZ_REVISION_BEACON_MS: '50', AUTHZ_REVISION_BEACON_WINDOW_MS: '5000' });
    // One connection both listens and calls: nats-server delivers to it in the order it routed the messages.
    nc = await connectAs('lib-test');
    nc.subscribe(`${prefix}${AUTHZ_REVISION_SUBJECT}`, {
      callback: (err, msg) => {
        if (!err) notices.push(RevisionNotice.parse(msg.json()));
      },
    });
    caller = NatsCaller.over(nc, prefix);
    const svcToken = await serviceAccountToken(ACME, SVC);
    await ok(caller, 'authz.v1.register', { resource: agentRef(1), tenant: ACME, owner: `user:${ALICE}` }, svcToken);
    t.admin = await userToken(ACME, ACME_ADMIN, { roles: ['admin'] });
    t.carol = await userToken(ACME, CAROL);
    t.alice = await userToken(ACME, ALICE);
    await ok(caller, 'authz.v1.grant', { subject: `user:${CAROL}`, action: 'read', resource: agentRef(1) }, t.admin);
  });

  afterAll(async () => {
    await nc?.drain();
    await svc?.close();
    await db?.drop();
  });

  it('answers an allowed check with its revision, a denial without one, and shadow mode without one', async () => {
    expect(await check(t.carol!, 'read', agentRef(1))).toEqual({ allowed: true, reason: 'grant', revision: '0.enforce-8' });
    expect(await check(t.carol!, 'write', agentRef(1))).toEqual({ allowed: false, reason: 'no_relation' });
    expect(await check(t.alice!, 'write', agentRef(1))).toEqual({ allowed: true, reason: 'owner', revision: '0.enforce-8' });
  });

  it('announces a revocation\'s revision before the revocation\'s reply, and repeats it in the beacon', async () => {
    notices.length = 0;
    await ok(caller, 'authz.v1.revoke', { subject: `user:${CAROL}`, action: 'read', resource: agentRef(1) }, t.admin!);
    // No flush, no wait: the announcement came in on this connection ahead of the reply.
    expect(notices.filter((n) => !n.beacon)).toEqual([{ revisions: [{ tenant: ACME, rev: '1' }], beacon: false, epoch: 'enforce-8' }]);
    // a beacon read before the revocation committed may still arrive with nothing in it: the next ones repeat the bump
    const beacon = await waitFor(async () => notices.find((n) => n.beacon && n.revisions.length > 0), (n) => n !== undefined, 2_000);
    expect(beacon).toEqual({ revisions: [{ tenant: ACME, rev: '1' }], beacon: true, epoch: 'enforce-8' });
    expect(await check(t.carol!, 'read', agentRef(1))).toEqual({ allowed: false, reason: 'no_relation' });
    expect(await check(t.alice!, 'write', agentRef(1))).toEqual({ allowed: true, reason: 'owner', revision: '1.enforce-8' });
  });

  it('answers shadow mode\'s checks without a revision (each must reach the mismatch count)', async () => {
    notices.length = 0;
    await ok(caller, 'authz.v1.set_mode', { tenantId: ACME, mode: 'shadow' }, t.admin!);
    expect(notices.filter((n) => !n.beacon)).toEqual([{ revisions: [{ tenant: ACME, rev: '2' }], beacon: false, epoch: 'enforce-8' }]);
    expect(await check(t.alice!, 'write', agentRef(1))).toEqual({ allowed: true, reason: 'tenant_member' });
    await ok(caller, 'authz.v1.set_mode', { tenantId: ACME, mode: 'legacy' }, t.admin!);
    expect(await check(t.carol!, 'write', agentRef(1))).toEqual({ allowed: true, reason: 'tenant_member', revision: '3.enforce-8' });
  });
});
