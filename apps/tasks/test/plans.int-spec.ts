import type pg from 'pg';
import { randomUUID } from 'node:crypto';
import { SqlPool, explainPrepared, type TestDatabase } from '@agentplane/persistence';
import { CLAIM, EXPIRED, TasksRepository } from '../src/tasks/tasks.repository.js';
import { tasksDatabase } from './setup.js';

// A claim is prepared once per connection and PostgreSQL keeps its generic plan, possibly chosen while the table was
// nearly empty. It must stay one probe of ix_tasks_claim as the table grows: other agents' queues, this agent's
// finished tasks and its tasks not yet due must not be read.
const OTHER = 20_000;
const DONE = 5_000;

/** One execution of the prepared statement, rolled back: the plan's indexes and the buffers it touched. */
async function explain(client: pg.PoolClient, text: string, args: string): Promise<{ buffers: number; indexes: string[] }> {
  await client.query('BEGIN');
  try {
    return await explainPrepared(client, text, args);
  } finally {
    await client.query('ROLLBACK');
  }
}

describe('the claim keeps its index plan as the queue grows', () => {
  let db: TestDatabase;
  let pool: SqlPool;
  let repo: TasksRepository;
  const agent = randomUUID();
  const other = randomUUID();

  beforeAll(async () => {
    db = await tasksDatabase();
    pool = new SqlPool({ url: db.url, max: 1 });
    // Prisma serves only the keyset page, not used here; wake-ups go nowhere
    repo = new TasksRepository(null as never, pool, { publish: () => undefined } as never);
    await pool.$executeRaw`INSERT INTO agents (id, tenant_id, name) VALUES (${agent}::uuid, 'acme', 'a'), (${other}::uuid, 'acme', 'b')`;
    const add = (agentId: string, n: number, status: string, runAfter: string) =>
      pool.$executeRawUnsafe(
        `INSERT INTO tasks (id, tenant_id, agent_id, name, status, run_after)
         SELECT gen_random_uuid(), 'acme', $1::uuid, $2 || g, $3, now() + $4::interval FROM generate_series(1, $5::int) g`,
        agentId,
        `${agentId}-${status}-${runAfter}-`,
        status,
        runAfter,
        n,
      );
    await add(agent, 10, 'pending', '-1 second');
    // More than five executions on the small table: PostgreSQL settles on the generic plan it keeps for the connection.
    for (let i = 0; i < 8; i++) expect(await repo.transaction((tx) => repo.claim(tx, agent, 'w', 1))).toHaveLength(1);
    await repo.transaction((tx) => repo.expired(tx, 10));
    // Then the table grows: another agent's queue, this agent's finished history, and work not due for an hour.
    await add(other, OTHER, 'pending', '-1 second');
    await add(agent, DONE, 'completed', '-1 day');
    await add(agent, DONE, 'running', '-1 day');
    await add(agent, 2_000, 'pending', '1 hour');
  }, 60_000);

  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it(`claims by probing ix_tasks_claim, touching a handful of buffers, not the ${OTHER + 2 * DONE} other rows`, async () => {
    const client = await pool.pool.connect();
    try {
      const { buffers, indexes } = await explain(client, CLAIM, `'${agent}', 1, 'w'`);
      expect(indexes).toContain('ix_tasks_claim');
      expect(buffers).toBeLessThan(60);
    } finally {
      client.release();
    }
  });

  it('sweeps by the running-lease index', async () => {
    const client = await pool.pool.connect();
    try {
      await client.query(`UPDATE tasks SET lease_expires_at = now() + interval '1 hour' WHERE status = 'running'`);
      const { indexes } = await explain(client, EXPIRED, '10');
      expect(indexes).toEqual(['ix_tasks_running_lease']);
    } finally {
      client.release();
    }
  });
});
