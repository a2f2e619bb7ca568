import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { assertTestDatabaseName, createTestDatabase, sqlStateOf } from '../src/index.js';

const MIGRATIONS = fileURLToPath(new URL('../../../prisma/tasks/migrations', import.meta.url));

async function tables(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    return r.rows.map((x) => x.tablename);
  } finally {
    await c.end();
  }
}

describe('test databases', () => {
  it('refuses a database whose name lacks "test"', () => {
    expect(() => assertTestDatabaseName('agentplane_tasks')).toThrow(/test/);
    expect(() => assertTestDatabaseName('x_test; DROP DATABASE y')).toThrow();
    expect(() => assertTestDatabaseName('ap_tasks_1a2b_test')).not.toThrow();
  });

  it('clones independent, migrated databases from one template', async () => {
    const [a, b] = await Promise.all([
      createTestDatabase({ service: 'tasks', migrationsDir: MIGRATIONS }),
      createTestDatabase({ service: 'tasks', migrationsDir: MIGRATIONS }),
    ]);
    try {
      expect(a!.name).not.toBe(b!.name);
      expect(await tables(a!.url)).toEqual(expect.arrayContaining(['agents', 'tasks']));
      const c = new pg.Client({ connectionString: a!.url });
      await c.connect();
      await c.query("INSERT INTO agents (id, tenant_id, name) VALUES (gen_random_uuid(), 't', 'only-in-a')");
      const err = await c.query("INSERT INTO agents (id, tenant_id, name) VALUES (gen_random_uuid(), 't', 'only-in-a')").catch((e: unknown) => e);
      expect(sqlStateOf(err)).toBe('23505');
      await c.end();
      const d = new pg.Client({ connectionString: b!.url });
      await d.connect();
      expect((await d.query('SELECT count(*)::int AS n FROM agents')).rows[0].n).toBe(0);
      await d.end();
    } finally {
      await Promise.all([a!.drop(), b!.drop()]);
    }
  });
});
