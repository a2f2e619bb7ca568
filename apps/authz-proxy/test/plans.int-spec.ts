import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type pg from 'pg';
import { SqlPool, explainPrepared, preparedNameOf, type TestDatabase } from '@agentplane/persistence';
import { ANCESTORS, CHECK_FACTS, CHECK_FACTS_MANY, checkManyParam, DEREGISTER, LOOKUP_GRANTED, PARENT_CHAINS, REGISTRATION_STATE, ReadPool, TuplesRepository, type ResourceEvent } from '../src/authz/tuples.repository.js';
import { ACME, BOB, CAROL, agentRef, taskRef } from './constants.js';
import { authzDatabase, sql } from './setup.js';

// A service prepares each statement once per connection and PostgreSQL keeps its generic plan. A plan chosen while the
// tables were nearly empty (a new database, before autovacuum's first ANALYZE) must not become a scan of all of an
// agent's tasks once it has thousands: every create asks check, and every registration walks the ancestors.
const TASKS = 6000;
const AGENT = agentRef(1);
/** A second agent with a few tasks, readable by CAROL through a grant: her lookup should read that subtree only. */
const SMALL = agentRef(2);

/** Buffers one execution of an already prepared statement touches, on the connection that prepared it. */
const buffersOf = async (client: pg.PoolClient, text: string, args: string) => (await explainPrepared(client, text, args)).buffers;

/**
 * How PostgreSQL planned a statement prepared on this connection, over its executions so far. It tries five custom
 * plans before it weighs them against the generic one (and a few more when the tables' statistics change); a statement
 * it finds cheaper to plan for each call's values shows custom plans only, and is planned at every call.
 */
const plansOf = async (client: pg.PoolClient, text: string) => {
  const { rows } = await client.query<{ generic_plans: string; custom_plans: string }>(
    'SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = $1',
    [preparedNameOf(text)],
  );
  expect(rows).toHaveLength(1);
  return { generic: Number(rows[0]!.generic_plans), custom: Number(rows[0]!.custom_plans) };
};

describe('authz-proxy statements keep index plans as a tenant grows', () => {
  let db: TestDatabase;
  let writes: SqlPool;
  let reads: ReadPool;
  let repo: TuplesRepository;
  const facts = (resource: string, action: 'read' | 'write') =>
    repo.checkFacts({ resource, subject: `user:${BOB}`, action, tenantId: ACME, maxDepth: 16 });
  const carolsTasks = () =>
    repo.resourcesOfSubject({ tenantId: ACME, subject: `user:${CAROL}`, action: 'read', type: 'task', after: '', limit: 50, maxDepth: 16 });

  beforeAll(async () => {
    db = await authzDatabase();
    // One connection each, so the statements examined below are the ones prepared (and planned) while small.
    writes = new SqlPool({ url: db.url, max: 1 });
    reads = new ReadPool({ url: db.url, max: 1 });
    repo = new TuplesRepository(writes, reads);
    await repo.transaction(async (tx) => {
      await repo.register(tx, { resource: AGENT, tenant: ACME, owner: 'user:alice' }, 16);
      await repo.grant(tx, { tenantId: ACME, resource: AGENT, action: 'write', subject: `user:${BOB}`, grantedBy: 'user:root' });
      await repo.register(tx, { resource: SMALL, tenant: ACME, owner: 'user:alice' }, 16);
      await repo.grant(tx, { tenantId: ACME, resource: SMALL, action: 'read', subject: `user:${CAROL}`, grantedBy: 'user:root' });
      for (let i = 1; i <= 3; i++) await repo.register(tx, { resource: taskRef(100 + i), tenant: ACME, owner: 'user:alice', parent: SMALL }, 16);
    });
    // More than five executions each: PostgreSQL then settles on the generic plan it keeps for the connection.
    for (let i = 1; i <= 8; i++) {
      expect((await facts(AGENT, 'write')).grantDepth).toBe(0);
      // two checks in one turn: CHECK_FACTS_MANY, prepared on the small tables too
      expect((await Promise.all([facts(AGENT, 'write'), facts(SMALL, 'write')])).map((f) => f.resourceTenant)).toEqual([ACME, ACME]);
      expect(await carolsTasks()).toHaveLength(3);
      await repo.transaction((tx) => repo.register(tx, { resource: taskRef(i), tenant: ACME, owner: `user:${BOB}`, parent: AGENT }, 16));
    }
    // Then the agent gets thousands of tasks, all owned by the asker (the tuples a careless plan would wade through).
    const c = await sql(db);
    await c.query(
      `INSERT INTO tuples (resource, relation, subject, tenant_id, resource_type)
       SELECT 'task:' || gen_random_uuid(), r.relation, CASE r.relation WHEN 'tenant' THEN 'tenant:' || $1 WHEN 'owner' THEN $2 ELSE $3 END, $1, 'task'
         FROM generate_series(1, $4::int) AS g, (VALUES ('tenant'), ('owner'), ('parent')) AS r(relation)`,
      [ACME, `user:${BOB}`, AGENT, TASKS],
    );
    await c.end();
  });

  afterAll(async () => {
    await writes?.end();
    await reads?.end();
    await db?.drop();
  });

  it('check answers as before with the plan prepared on the small tables', async () => {
    expect(await facts(AGENT, 'write')).toMatchObject({ resourceTenant: ACME, owner: false, grantDepth: 0 });
    expect(await facts(taskRef(3), 'read')).toMatchObject({ resourceTenant: ACME, owner: true, grantDepth: null });
    expect(await facts(taskRef(3), 'write')).toMatchObject({ owner: true, grantDepth: 1 });
  });

  it(`check touches a handful of buffers, not the agent's ${TASKS} tasks`, async () => {
    const client = await reads.pool.connect();
    try {
      const onAgent = await buffersOf(client, CHECK_FACTS, `'${AGENT}', 'user:${BOB}', 'write', '${ACME}', 16`);
      const onTask = await buffersOf(client, CHECK_FACTS, `'${taskRef(3)}', 'user:${BOB}', 'read', '${ACME}', 16`);
      // A scan of the tasks' parent or owner tuples reads well over a hundred pages.
      expect(onAgent).toBeLessThan(40);
      expect(onTask).toBeLessThan(40);
      // the checks of one turn in one statement: the same probes for each question
      const questions = checkManyParam([
        { resource: AGENT, subject: `user:${BOB}`, action: 'write', tenantId: ACME, maxDepth: 16 },
        { resource: taskRef(3), subject: `user:${BOB}`, action: 'read', tenantId: ACME, maxDepth: 16 },
      ]);
      expect(await buffersOf(client, CHECK_FACTS_MANY, `'${questions}'`)).toBeLessThan(80);
    } finally {
      client.release();
    }
  });

  it('the checks of a turn keep one generic plan: a check is not planned again at every call', async () => {
    // beforeAll ran CHECK_FACTS_MANY eight times on the read pool's one connection; run it more, as a busy service does
    for (let i = 0; i < 8; i++) await Promise.all([facts(AGENT, 'write'), facts(taskRef(3), 'read'), facts(SMALL, 'write')]);
    const client = await reads.pool.connect();
    try {
      const { generic, custom } = await plansOf(client, CHECK_FACTS_MANY);
      expect(generic + custom).toBeGreaterThanOrEqual(16);
      expect(generic).toBeGreaterThanOrEqual(custom);
    } finally {
      client.release();
    }
  });

  it('a registration under the agent walks its ancestors by index too', async () => {
    await repo.transaction((tx) => repo.register(tx, { resource: taskRef(9), tenant: ACME, owner: `user:${BOB}`, parent: AGENT }, 16));
    const client = await writes.pool.connect();
    try {
      expect(await buffersOf(client, ANCESTORS, `'${AGENT}', '${ACME}', 16`)).toBeLessThan(20);
    } finally {
      client.release();
    }
  });
  it(`lookup is planned at each call and reads the granted subtree, not the tenant's ${TASKS} other tasks`, async () => {
    expect(await carolsTasks()).toEqual([taskRef(101), taskRef(102), taskRef(103)]);
    const client = await reads.pool.connect();
    try {
      // No plan of it is kept on the connection that ran it while the tables were small…
      const { rows } = await client.query('SELECT name FROM pg_prepared_statements WHERE name = $1', [preparedNameOf(LOOKUP_GRANTED)]);
      expect(rows).toHaveLength(0);
      // …and the plan it gets, with the statistics autovacuum would have gathered by now (last: this replans the
      // statements of the tests above), probes the index per tree node; a scan of every parent tuple reads hundreds
      // of pages.
      await client.query('ANALYZE tuples');
      const plan = await client.query<{ 'QUERY PLAN': Array<{ Plan: Record<string, number> }> }>(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${LOOKUP_GRANTED}`,
        [`user:${CAROL}`, 'read', ACME, 16, 'task', '', 50],
      );
      const p = plan.rows[0]['QUERY PLAN'][0].Plan;
      expect(p['Shared Hit Blocks'] + p['Shared Read Blocks']).toBeLessThan(60);
      // With those statistics, check is still a handful of index probes.
      expect(await buffersOf(client, CHECK_FACTS, `'${taskRef(3)}', 'user:${BOB}', 'write', '${ACME}', 16`)).toBeLessThan(40);
    } finally {
      client.release();
    }
  });
});

describe('check planned once the asker owns and holds thousands (no ANALYZE yet)', () => {
  let db: TestDatabase;
  let reads: ReadPool;
  let writes: SqlPool;

  beforeAll(async () => {
    db = await authzDatabase();
    const c = await sql(db);
    // BOB may write the agent; he created its thousands of tasks (owner tuples) and was granted read on thousands more.
    await c.query(
      `INSERT INTO tuples (resource, relation, subject, tenant_id, resource_type) VALUES
         ($1, 'tenant', 'tenant:' || $2, $2, 'agent'), ($1, 'owner', 'user:alice', $2, 'agent'), ($1, 'write', $3, $2, 'agent')`,
      [AGENT, ACME, `user:${BOB}`],
    );
    await c.query(
      `INSERT INTO tuples (resource, relation, subject, tenant_id, resource_type)
       SELECT 'task:' || gen_random_uuid(), r.relation, CASE r.relation WHEN 'tenant' THEN 'tenant:' || $1 WHEN 'owner' THEN $2 ELSE $3 END, $1, 'task'
         FROM generate_series(1, $4::int) AS g, (VALUES ('tenant'), ('owner'), ('parent')) AS r(relation)`,
      [ACME, `user:${BOB}`, AGENT, TASKS],
    );
    await c.query(
      `INSERT INTO tuples (resource, relation, subject, tenant_id, resource_type)
       SELECT 'task:' || gen_random_uuid(), 'read', $2, $1, 'task' FROM generate_series(1, $3::int)`,
      [ACME, `user:${BOB}`, TASKS / 2],
    );
    await c.query(`INSERT INTO tuples (resource, relation, subject, tenant_id, resource_type) VALUES ($1, 'read', $2, $3, 'task')`, [taskRef(7), `user:${BOB}`, ACME]);
    await c.end();
    // prepared now, on the grown (and never analyzed) table
    reads = new ReadPool({ url: db.url, max: 1 });
    writes = new SqlPool({ url: db.url, max: 1 });
  });

  afterAll(async () => {
    await reads?.end();
    await writes?.end();
    await db?.drop();
  });

  it('answers with point lookups: a handful of buffers, not the asker\'s thousands of tuples', async () => {
    const repo = new TuplesRepository(writes, reads);
    for (let i = 0; i < 8; i++) {
      expect(await repo.checkFacts({ resource: AGENT, subject: `user:${BOB}`, action: 'write', tenantId: ACME, maxDepth: 16 })).toMatchObject({ owner: false, grantDepth: 0 });
      expect(await repo.checkFacts({ resource: taskRef(7), subject: `user:${BOB}`, action: 'read', tenantId: ACME, maxDepth: 16 })).toMatchObject({ owner: false, grantDepth: 0 });
    }
    const client = await reads.pool.connect();
    try {
      // the old statement read 95 pages here: every owner tuple of BOB's, through (subject, relation, …)
      expect(await buffersOf(client, CHECK_FACTS, `'${AGENT}', 'user:${BOB}', 'write', '${ACME}', 16`)).toBeLessThan(40);
      expect(await buffersOf(client, CHECK_FACTS, `'${taskRef(7)}', 'user:${BOB}', 'read', '${ACME}', 16`)).toBeLessThan(40);
    } finally {
      client.release();
    }
  });
});

describe('registration batches, as the events consumer applies them under load (no ANALYZE yet)', () => {
  let db: TestDatabase;
  let writes: SqlPool;
  let reads: ReadPool;
  let repo: TuplesRepository;
  const registered = (n: number): ResourceEvent => ({
    eventId: `ev-${n}`,
    subject: 'events.tasks.resource_registered',
    kind: 'register',
    registration: { resource: taskRef(n), tenant: ACME, owner: `user:${BOB}`, parent: AGENT },
  });
  const batch = (from: number, size: number) => Array.from({ length: size }, (_, i) => registered(from + i));
  const deregistered = (from: number, size: number): ResourceEvent[] =>
    Array.from({ length: size }, (_, i) => ({ eventId: `gone-${from + i}`, subject: 'events.tasks.resource_deregistered', kind: 'deregister', resource: taskRef(from + i) }));

  beforeAll(async () => {
    db = await authzDatabase();
    writes = new SqlPool({ url: db.url, max: 1 });
    reads = new ReadPool({ url: db.url, max: 1 });
    repo = new TuplesRepository(writes, reads);
    await repo.transaction((tx) => repo.register(tx, { resource: AGENT, tenant: ACME, owner: 'user:alice' }, 16));
    // From an empty table to thousands of tasks, 40 events a batch: the statements are prepared, and their generic
    // plan chosen, while the table is small, then kept on the connection as it grows.
    // Now and then a few tasks are deleted (their deregistrations), as the tasks bench's lifecycle does.
    for (let n = 1; n <= 4000; n += 40) {
      await repo.applyBatchOnce(batch(n, 40), 16);
      if (n <= 400 || n % 400 === 1) await repo.applyBatchOnce(deregistered(n, 2), 16);
    }
  });

  afterAll(async () => {
    await writes?.end();
    await reads?.end();
    await db?.drop();
  });

  it('reads the state of a batch\'s resources and its parents by index, not the whole table', async () => {
    expect(await repo.applyBatchOnce(batch(5000, 3), 16)).toEqual(['applied', 'applied', 'applied']);
    const client = await writes.pool.connect();
    try {
      const fresh = `'{${taskRef(6001)},${taskRef(6002)},${taskRef(6003)}}'`;
      // The scan the old statement was planned as read every task's tuples: hundreds of pages.
      expect(await buffersOf(client, REGISTRATION_STATE, `${fresh}, ${fresh}, '{${taskRef(6001)},${taskRef(6002)},${taskRef(6003)},${AGENT}}'`)).toBeLessThan(40);
      await client.query('BEGIN');
      try {
        expect(await buffersOf(client, PARENT_CHAINS, `'["${AGENT}"]', 16`)).toBeLessThan(20);
      } finally {
        await client.query('ROLLBACK');
      }
    } finally {
      client.release();
    }
  });

  it('keeps one generic plan for the parents\' chains: a batch is not planned again each time', async () => {
    const client = await writes.pool.connect();
    try {
      // beforeAll applied 100 batches naming the agent as parent, on this one connection, as the table grew
      const { generic, custom } = await plansOf(client, PARENT_CHAINS);
      expect(generic + custom).toBeGreaterThanOrEqual(100);
      expect(generic).toBeGreaterThanOrEqual(3 * custom);
    } finally {
      client.release();
    }
  });

  it('deletes a deregistered batch\'s tuples by index, not by a scan of the table', async () => {
    const client = await writes.pool.connect();
    try {
      await client.query('BEGIN');
      try {
        const doomed = `'{${taskRef(3001)},${taskRef(3002)},${taskRef(3003)}}'`;
        expect(await buffersOf(client, DEREGISTER, `${doomed}, '{NULL,NULL,NULL}'`)).toBeLessThan(60);
        const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM tuples WHERE resource = ANY($1)', [[taskRef(3001), taskRef(3002), taskRef(3003)]]);
        expect(rows[0]?.n).toBe(0);
      } finally {
        await client.query('ROLLBACK');
      }
    } finally {
      client.release();
    }
  });
});
