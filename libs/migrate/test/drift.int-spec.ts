import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { checkDrift, discoverServices, migrate } from '../src/index.js';
import { REPO_ROOT, Scratch } from './helpers.js';

const scratch = new Scratch();
afterAll(() => scratch.dropAll());

const TASKS = path.join(REPO_ROOT, 'prisma', 'tasks');

async function migratedTasksDb(): Promise<string> {
  const url = await scratch.db('drift_tasks');
  await migrate({ databaseUrl: url, dir: path.join(TASKS, 'migrations'), log: () => undefined });
  return url;
}

describe('checkDrift', () => {
  it('passes on every real schema once its migrations are applied', async () => {
    const services = (await discoverServices(REPO_ROOT)).filter((s) => s.schemaPath);
    expect(services.map((s) => s.service)).toContain('tasks');
    for (const svc of services) {
      const url = await scratch.db(`drift_${svc.service.replace(/-/g, '_')}`);
      await migrate({ databaseUrl: url, dir: svc.migrationsDir, log: () => undefined });
      const res = await checkDrift({ databaseUrl: url, schemaPath: svc.schemaPath! });
      expect({ svc: svc.service, diff: res.diff }).toEqual({ svc: svc.service, diff: '' });
    }
  });

  it('fails with a readable diff when the schema gains a column no migration adds', async () => {
    const url = await migratedTasksDb();
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'ap-drift-'));
    try {
      const schema = (await readFile(path.join(TASKS, 'schema.prisma'), 'utf8')).replace(
        '  creatorUserId ',
        '  driftProbe              Int     @default(0) @map("drift_probe")\n  creatorUserId ',
      );
      await writeFile(path.join(tmp, 'schema.prisma'), schema);
      const res = await checkDrift({ databaseUrl: url, schemaPath: path.join(tmp, 'schema.prisma') });
      expect(res.ok).toBe(false);
      expect(res.diff).toBe(['  column tasks.drift_probe', '    - schema:   integer NOT NULL DEFAULT 0', '    + database: (missing)'].join('\n'));
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it("reports a Prisma now() default: Prisma Client would stamp the row with the instance's clock, not the database's", async () => {
    const url = await migratedTasksDb();
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'ap-drift-'));
    try {
      const real = await readFile(path.join(TASKS, 'schema.prisma'), 'utf8');
      const schema = real.replace('@default(dbgenerated("now()")) @map("created_at")', '@default(now()) @map("created_at")');
      expect(schema).not.toBe(real);
      await writeFile(path.join(tmp, 'schema.prisma'), schema);
      const res = await checkDrift({ databaseUrl: url, schemaPath: path.join(tmp, 'schema.prisma') });
      expect(res.diff).toBe(
        [
          '  column agents.created_at',
          `    - schema:   timestamp(6) with time zone NOT NULL DEFAULT now() from the Prisma client's clock (write @default(dbgenerated("now()")))`,
          '    + database: timestamp(6) with time zone NOT NULL DEFAULT now()',
        ].join('\n'),
      );
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('reports undeclared or unvalidated checks, a partial index that is not partial, and unknown tables', async () => {
    const url = await migratedTasksDb();
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'ap-drift-'));
    try {
      const schema = (await readFile(path.join(TASKS, 'schema.prisma'), 'utf8'))
        .replace('/// @check ck_tasks_status\n', '')
        .replace('/// @partial ix_tasks_creator_user_id WHERE creator_user_id IS NOT NULL\n', '');
      await writeFile(path.join(tmp, 'schema.prisma'), schema);
      const { default: pg } = await import('pg');
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query('ALTER TABLE tasks DROP CONSTRAINT ck_tasks_at_most_one_creator');
      await c.query('ALTER TABLE tasks ADD CONSTRAINT ck_tasks_at_most_one_creator CHECK (num_nonnulls(creator_user_id, creator_service_account_id) <= 1) NOT VALID');
      await c.query('CREATE TABLE stray (id int)');
      await c.end();
      const res = await checkDrift({ databaseUrl: url, schemaPath: path.join(tmp, 'schema.prisma') });
      expect(res.items.map((i) => `${i.object} | ${i.schema} | ${i.database}`)).toEqual([
        'index tasks.ix_tasks_creator_user_id | (creator_user_id) | (creator_user_id) WHERE (creator_user_id IS NOT NULL)',
        'check tasks.ck_tasks_at_most_one_creator | valid | NOT VALID (its VALIDATE migration is missing)',
        'check tasks.ck_tasks_status | (missing) (declare it with /// @check ck_tasks_status) | present',
        'table stray | (missing) (no model; mark SQL-only tables with // @sql-only stray) | present',
      ]);
      await writeFile(path.join(tmp, 'schema.prisma'), `${schema}\n// @sql-only stray\n`);
      const again = await checkDrift({ databaseUrl: url, schemaPath: path.join(tmp, 'schema.prisma') });
      expect(again.items.map((i) => i.object)).not.toContain('table stray');
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
