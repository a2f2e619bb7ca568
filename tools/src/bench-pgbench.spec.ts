import { pgbenchStatement } from '../bench/pgbench.mjs';

describe('a service statement as a pgbench script line (tools/bench/pgbench.mjs)', () => {
  it("writes a literal holding a colon as the same constant in escape-string form, colons as \\x3a", () => {
    expect(pgbenchStatement("SELECT to_char(now(), 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")).toBe(
      "SELECT to_char(now(), E'YYYY-MM-DD\"T\"HH24\\x3aMI\\x3aSS.MS\"Z\"');\n",
    );
  });

  it('doubles the backslashes of such a literal and keeps its doubled quotes', () => {
    expect(pgbenchStatement(`SELECT '{"a":"it''s \\\\ here"}'::jsonb`)).toBe(`SELECT E'{"a"\\x3a"it''s \\\\\\\\ here"}'::jsonb;\n`);
  });

  it('leaves casts, literals without a colon and the rest of the text alone, on one line', () => {
    expect(pgbenchStatement("SELECT id::text, '{}'::jsonb\n  FROM t\n WHERE x = 'a'")).toBe("SELECT id::text, '{}'::jsonb FROM t WHERE x = 'a';\n");
  });

  it('refuses a statement where pgbench would read a variable, or with a parameter left', () => {
    expect(() => pgbenchStatement('SELECT * FROM t WHERE id = :id')).toThrow(/variable/);
    expect(() => pgbenchStatement('SELECT * FROM t WHERE id = $1')).toThrow(/parameter/);
    expect(() => pgbenchStatement("SELECT '$1 costs :x'")).not.toThrow();
  });
});
