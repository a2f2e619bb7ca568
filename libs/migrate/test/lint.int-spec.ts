import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { discoverServices, lintMigrationFiles, type Finding } from '../src/index.js';
import { REPO_ROOT } from './helpers.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const fixture = (name: string) => path.join(FIXTURES, name);
const rulesOf = (findings: Finding[], file: string) => findings.filter((f) => f.file === fixture(file)).map((f) => `${f.line} ${f.rule}`);

describe('lintMigrationFiles', () => {
  let findings: Finding[];
  beforeAll(async () => {
    const files = (await readdir(FIXTURES)).filter((f) => f.endsWith('.sql')).map(fixture);
    findings = await lintMigrationFiles(files);
  });

  it.each([
    ['same-transaction-validate.sql', ['3 agentplane/validate-with-not-valid', '3 constraint-missing-not-valid']],
    ['index-not-concurrent.sql', ['1 require-concurrent-index-creation']],
    ['check-without-not-valid.sql', ['1 constraint-missing-not-valid']],
    ['fk-without-not-valid.sql', ['1 adding-foreign-key-constraint', '1 constraint-missing-not-valid']],
    ['not-null-without-default.sql', ['1 adding-required-field']],
    ['column-type-change.sql', ['1 changing-column-type']],
    ['concurrently-in-transaction.sql', ['2 agentplane/concurrently-in-transaction', '2 ban-concurrent-index-creation-in-transaction']],
    ['concurrently-alone-in-transaction.sql', ['2 agentplane/concurrently-in-transaction']],
    ['validate-in-transaction.sql', ['1 agentplane/validate-in-transaction']],
    ['unique-constraint.sql', ['1 constraint-missing-not-valid', '1 disallowed-unique-constraint']],
    ['no-transaction-mixed.sql', ['2 agentplane/no-transaction-only', '3 agentplane/resumable-step']],
    ['no-transaction-ok.sql', []],
  ])('%s → %j', (file, expected) => {
    expect(rulesOf(findings, file)).toEqual(expected);
  });

  it('names the rule, file, line and a reason', () => {
    const f = findings.find((x) => x.rule === 'agentplane/validate-with-not-valid')!;
    expect(f.message).toMatch(/VALIDATE CONSTRAINT ck_tasks_name_len shares a transaction with its NOT VALID/);
  });

  it("passes the project's own migrations", async () => {
    const files = (await discoverServices(REPO_ROOT)).flatMap((s) => s.migrationFiles);
    expect(files.length).toBeGreaterThanOrEqual(6);
    expect(await lintMigrationFiles(files)).toEqual([]);
  });
});
