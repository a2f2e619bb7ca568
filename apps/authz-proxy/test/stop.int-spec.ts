import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type pg from 'pg';
import type { TestDatabase } from '@agentplane/persistence';
import { NatsCaller, testPrefix, userToken, type RunningService } from '@agentplane/testing';
import { ACME, ALICE, agentRef } from './constants.js';
import { authzDatabase, sql, startAuthz, waitFor } from './setup.js';

/** A check being answered when authz-proxy stops (SIGTERM: Nest's close) still gets its answer. */
describe('authz-proxy: a stop answers the checks in hand', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let caller: NatsCaller;
  let c: pg.Client;
  const prefix = testPrefix('authz_stop');

  beforeAll(async () => {
    db = await authzDatabase();
    svc = await startAuthz(db, prefix);
    caller = await NatsCaller.connect(prefix);
    c = await sql(db);
  });
  afterAll(async () => {
    await c?.end();
    await caller?.close();
    await db?.drop();
  });

  it('a check held up in PostgreSQL when the stop begins is answered before the pool closes', async () => {
    const token = await userToken(ACME, ALICE);
    // the check's read waits behind this lock until the stop is under way
    await c.query('BEGIN');
    await c.query('LOCK TABLE tuples IN ACCESS EXCLUSIVE MODE');
    const asked = caller.request('authz.v1.check', { action: 'read', resource: agentRef(77) }, { token, timeoutMs: 10_000 });
    expect(await waitFor(async () => (await c.query("SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted")).rows[0].n as number, (n) => n > 0, 5_000)).toBeGreaterThan(0);
    const closing = svc.app.close();
    await new Promise((r) => setTimeout(r, 500));
    await c.query('COMMIT');
    const reply = await asked;
    await closing;
    expect(reply.body).toMatchObject({ ok: true, data: { allowed: false } });
  });
});
