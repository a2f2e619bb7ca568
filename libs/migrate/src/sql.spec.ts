import { isNoTransaction, needsNoTransaction, notValidConstraints, splitStatements, validatedConstraints } from './sql.js';

describe('splitStatements', () => {
  it('splits with the real parser: semicolons in strings, comments and dollar quotes stay inside', async () => {
    const sql = [
      '-- migrate:no-transaction',
      "-- a comment; with a semicolon",
      "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_a ON t (a) WHERE a <> ';é';",
      '',
      'ALTER TABLE t VALIDATE CONSTRAINT ck_t;',
      "DO $$ BEGIN RAISE NOTICE 'x;y'; END $$",
    ].join('\n');
    const stmts = await splitStatements(sql);
    expect(stmts.map((s) => [s.line, s.sql])).toEqual([
      [3, "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_a ON t (a) WHERE a <> ';é'"],
      [5, 'ALTER TABLE t VALIDATE CONSTRAINT ck_t'],
      [6, "DO $$ BEGIN RAISE NOTICE 'x;y'; END $$"],
    ]);
    expect(stmts.map(needsNoTransaction)).toEqual([true, true, false]);
    expect(validatedConstraints(stmts[1])).toEqual(['ck_t']);
  });

  it('reads the directive only from the first line', () => {
    expect(isNoTransaction('-- migrate:no-transaction\nSELECT 1;')).toBe(true);
    expect(isNoTransaction('SELECT 1;\n-- migrate:no-transaction')).toBe(false);
  });

  it('finds constraints added NOT VALID', async () => {
    const [s] = await splitStatements('ALTER TABLE t ADD CONSTRAINT ck_x CHECK (a > 0) NOT VALID;');
    expect(notValidConstraints(s)).toEqual(['ck_x']);
  });
});
