// A service's SQL statement as a pgbench script line (tools/bench/tasks runs the tasks service's own statements).

/**
 * `sql`, with its values inlined (no `$n` left), as one pgbench script line. pgbench reads `:name` as a variable
 * wherever it stands, inside a string literal too (it does not parse SQL), so a literal holding a colon (a time format
 * 'HH24:MI:SS', a JSON constant) is written as the same constant in escape-string form, `E'…'` with `\x3a` for each
 * colon. Casts (`::`) are left as they are: pgbench skips them. Throws where a `:name` would still be read as a
 * variable or a parameter is left.
 */
export function pgbenchStatement(sql) {
  const text = sql
    .replace(/'((?:[^']|'')*)'/g, (literal, body) => (body.includes(':') ? `E'${body.replace(/\\/g, '\\\\').replace(/:/g, '\\x3a')}'` : literal))
    .replace(/\s*\n\s*/g, ' ')
    .trim();
  const outsideLiterals = text.replace(/'(?:[^']|'')*'/g, "''").replace(/::/g, '');
  if (/:[A-Za-z0-9_]/.test(outsideLiterals)) throw new Error(`pgbench would read a variable in: ${text.slice(0, 200)}`);
  if (/\$\d/.test(outsideLiterals)) throw new Error(`a parameter is left in: ${text.slice(0, 200)}`);
  return `${text};\n`;
}
