import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SqlPool, type TestDatabase } from '@agentplane/persistence';
import { testEnv, testPrefix } from '@agentplane/testing';
import { loadConfig } from '../src/config.js';
import { ReadPool, TuplesRepository } from '../src/authz/tuples.repository.js';
import { authzDatabase, sql, startAuthz } from './setup.js';

describe('applied event ids are kept for AUTHZ_APPLIED_EVENTS_RETENTION_HOURS', () => {
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

  it('the running consumer prunes them itself, from its start on', async () => {
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
});
