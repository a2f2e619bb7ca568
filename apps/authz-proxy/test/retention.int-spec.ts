import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SqlPool, type TestDatabase } from '@agentplane/persistence';
import { NatsCaller, serviceAccountToken, testEnv, testPrefix, userToken } from '@agentplane/testing';
import { loadConfig } from '../src/config.js';
import { ReadPool, TuplesRepository } from '../src/authz/tuples.repository.js';
import { ACME, ACME_ADMIN, CAROL, DAVE, SVC, agentRef } from './constants.js';
import { authzDatabase, ok, sql, startAuthz } from './setup.js';

describe('what authz-proxy keeps only for a while: applied event ids, deregistrations, grant changes', () => {
  let db: TestDatabase;
  let writes: SqlPool;
  let reads: ReadPool;
  let repo: TuplesRepository;

  beforeAll(async () => {
    db = await authzDatabase();
    writes = new SqlPool({ url: db.url, max: 2 });
    reads = new ReadPool({ url: db.url, max: 1 });
    repo = new TuplesRepository(writes, reads);
  });

  afterAll(async () => {
    await writes?.end();
    await reads?.end();
    await db?.drop();
  });

  it('forgets the ids past the retention, oldest first in batches, and still ignores a redelivery within it', async () => {
    const c = await sql(db);
    await c.query(`INSERT INTO applied_events (event_id, subject, applied_at)
      SELECT 'old-' || g, 'events.tasks.resource_registered', now() - interval '800 hours' FROM generate_series(1, 5) g
      UNION ALL SELECT 'recent-' || g, 'events.tasks.resource_registered', now() - interval '100 hours' FROM generate_series(1, 2) g`);
    expect(await repo.pruneAppliedEvents(720, 2)).toBe(5); // three statements
    const { rows } = await c.query<{ event_id: string }>('SELECT event_id FROM applied_events ORDER BY 1');
    expect(rows.map((r) => r.event_id)).toEqual(['recent-1', 'recent-2']);
    await c.end();
    let ran = false;
    expect(await repo.applyOnce('recent-1', 'events.tasks.resource_registered', async () => (ran = true))).toBe('duplicate');
    expect(ran).toBe(false);
  });

  it('forgets the deregistrations past the retention too (a copy of an event they overtook can no longer arrive)', async () => {
    const c = await sql(db);
    await c.query(`INSERT INTO deregistered_resources (resource, tenant_id, deregistered_at, applied_at)
      SELECT 'agent:old-' || g, 'acme', now() - interval '800 hours', now() - interval '800 hours' FROM generate_series(1, 3) g
      UNION ALL SELECT 'agent:recent-' || g, NULL, now() - interval '100 hours', now() - interval '100 hours' FROM generate_series(1, 2) g`);
    expect(await repo.pruneDeregistered(720, 2)).toBe(3);
    const { rows } = await c.query<{ resource: string }>('SELECT resource FROM deregistered_resources ORDER BY 1');
    expect(rows.map((r) => r.resource)).toEqual(['agent:recent-1', 'agent:recent-2']);
    await c.end();
  });

  it('refuses a retention shorter than the events stream keeps a message, naming the variable', () => {
    expect(() => loadConfig(testEnv({ DATABASE_URL: db.url, AUTHZ_APPLIED_EVENTS_RETENTION_HOURS: '24' }))).toThrow(/AUTHZ_APPLIED_EVENTS_RETENTION_HOURS/);
    expect(loadConfig(testEnv({ DATABASE_URL: db.url })).authz.events.appliedRetentionHours).toBe(720);
  });

  it('a running instance prunes them itself, from its start on', async () => {
    const c = await sql(db);
    await c.query(`INSERT INTO applied_events (event_id, subject, applied_at)
      SELECT 'stale-' || g, 'events.tasks.resource_registered', now() - interval '1000 hours' FROM generate_series(1, 3) g`);
    const prefix = testPrefix('authz_retention'); // its stream is deleted when the file ends (tools/jest)
    const svc = await startAuthz(db, prefix, { AUTHZ_EVENTS: 'on' });
    try {
      const stale = async () => Number((await c.query("SELECT count(*) FROM applied_events WHERE event_id LIKE 'stale-%'")).rows[0].count);
      const deadline = Date.now() + 10_000;
      while ((await stale()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await stale()).toBe(0);
      expect(Number((await c.query("SELECT count(*) FROM applied_events WHERE event_id LIKE 'recent-%'")).rows[0].count)).toBe(2);
    } finally {
      await svc.close();
      await c.end();
    }
  });

  it('forgets grant changes past AUTHZ_GRANT_HISTORY_RETENTION_HOURS, oldest first, and keeps every one at 0', async () => {
    const c = await sql(db);
    await c.query(`INSERT INTO grant_changes (tenant_id, resource, action, subject, change, changed_by, changed_at)
      SELECT 'acme', 'agent:gc', 'read', 'user:u' || g, 'granted', 'user:admin', now() - make_interval(hours => 100 + g)
        FROM generate_series(1, 5) g
      UNION ALL SELECT 'acme', 'agent:gc', 'read', 'user:recent', 'granted', 'user:admin', now() - interval '10 hours'`);
    expect(await repo.pruneGrantChanges(0)).toBe(0);
    expect(await repo.pruneGrantChanges(103, 2)).toBe(3); // the three oldest (hours 103–105 ago), two statements
    const { rows } = await c.query<{ subject: string }>("SELECT subject FROM grant_changes WHERE resource = 'agent:gc' ORDER BY id");
    expect(rows.map((r) => r.subject)).toEqual(['user:u1', 'user:u2', 'user:recent']);
    await c.end();
  });

  it('a running instance prunes grant changes from its start, and grant_history says since when it keeps them', async () => {
    const prefix = testPrefix('authz_grant_retention');
    const agent = agentRef(702);
    const admin = await userToken(ACME, ACME_ADMIN, { roles: ['admin'] });
    const history = (caller: NatsCaller) => ok<{ items: Array<{ subject: string }>; keptSince: string | null }>(caller, 'authz.v1.grant_history', { resource: agent }, admin);
    const c = await sql(db);
    const caller = await NatsCaller.connect(prefix, 'lib-test');
    let svc = await startAuthz(db, prefix);
    try {
      await ok(caller, 'authz.v1.register', { resource: agent, tenant: ACME }, await serviceAccountToken(ACME, SVC));
      await ok(caller, 'authz.v1.grant', { resource: agent, subject: `user:${CAROL}`, action: 'read' }, admin);
      await ok(caller, 'authz.v1.grant', { resource: agent, subject: `user:${DAVE}`, action: 'write' }, admin);
      // carol's grant is a year old; without a retention it is listed, and nothing says a line may be missing
      await c.query("UPDATE grant_changes SET changed_at = now() - interval '8760 hours' WHERE resource = $1 AND subject = $2", [agent, `user:${CAROL}`]);
      expect(await history(caller)).toMatchObject({ items: [{ subject: `user:${DAVE}` }, { subject: `user:${CAROL}` }], keptSince: null });
      await svc.close();

      svc = await startAuthz(db, prefix, { AUTHZ_GRANT_HISTORY_RETENTION_HOURS: '720' });
      const lines = async () => Number((await c.query('SELECT count(*) FROM grant_changes WHERE resource = $1', [agent])).rows[0].count);
      const deadline = Date.now() + 10_000;
      while ((await lines()) > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const before = Date.now();
      const page = await history(caller);
      expect(page.items.map((i) => i.subject)).toEqual([`user:${DAVE}`]);
      const since = Date.parse(page.keptSince!);
      expect(since).toBeGreaterThanOrEqual(before - 720 * 3_600_000 - 1_000);
      expect(since).toBeLessThanOrEqual(Date.now() - 720 * 3_600_000);
      // the grant itself stays, with who made it: only its line in the audit went
      const { rows } = await c.query<{ granted_by: string }>("SELECT granted_by FROM tuples WHERE resource = $1 AND relation = 'read'", [agent]);
      expect(rows).toEqual([{ granted_by: `user:${ACME_ADMIN}` }]);
      expect(() => loadConfig(testEnv({ DATABASE_URL: db.url, AUTHZ_GRANT_HISTORY_RETENTION_HOURS: '-1' }))).toThrow(/AUTHZ_GRANT_HISTORY_RETENTION_HOURS/);
    } finally {
      await svc.close();
      await caller.close();
      await c.end();
    }
  });
});
