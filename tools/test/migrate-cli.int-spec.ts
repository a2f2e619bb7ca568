import { randomBytes } from 'node:crypto';
import { dropDatabase } from '@agentplane/migrate';
import { driftCli, lintCli, migrateCli, type Io } from '../src/migrate-cli.js';

function io(env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const value: Io = { out: (l) => out.push(l), err: (l) => err.push(l), env };
  return { out, err, io: value };
}

describe('migration CLIs', () => {
  const url = `postgresql://postgres@127.0.0.1:5432/ap_migrate_cli_${randomBytes(4).toString('hex')}_test`;
  afterAll(() => dropDatabase(url));

  it('migrate up creates the database, applies the tasks migrations, and status lists them', async () => {
    const up = io();
    expect(await migrateCli(['up', '--dir', 'prisma/tasks/migrations', '--url', url, '--lock-timeout-ms', '500'], up.io)).toBe(0);
    expect(up.out[0]).toMatch(/^migrate: created database ap_migrate_cli_\w+_test$/);
    expect(up.out.join('\n')).toMatch(/step 1\/1 \(line 3\): ALTER TABLE tasks VALIDATE CONSTRAINT ck_tasks_at_most_one_creator \(\d+ ms, autocommit\)/);
    const status = io({ DATABASE_URL: url });
    expect(await migrateCli(['status', '--service', 'tasks'], status.io)).toBe(0);
    expect(status.out).toContain('applied  20261122110400_tasks_ix_creator_service_account_id');
    expect(await migrateCli(['sideways'], io().io)).toBe(2);
  });

  it('lint-migrations prints rule file:line message and exits 1 on findings, 0 on the real migrations', async () => {
    const bad = io();
    expect(await lintCli(['libs/migrate/test/fixtures/index-not-concurrent.sql'], bad.io)).toBe(1);
    expect(bad.out[0]).toMatch(/^require-concurrent-index-creation libs\/migrate\/test\/fixtures\/index-not-concurrent.sql:1 /);
    const all = io();
    expect(await lintCli([], all.io)).toBe(0);
    expect(all.out.at(-1)).toMatch(/^lint-migrations: \d+ migrations, 0 findings$/);
  });

  it('drift passes on the tasks schema and leaves no scratch database behind', async () => {
    const d = io();
    expect(await driftCli(['tasks'], d.io)).toBe(0);
    expect(d.out).toEqual([expect.stringMatching(/^drift: tasks ok/)]);
  });
});
