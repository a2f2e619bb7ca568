import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { MIGRATIONS_TABLE } from './runner.js';

/**
 * Drift check: a migrated database against a Prisma schema's DMMF.
 *
 * Conventions for what Prisma cannot say (model doc comments, `///`):
 *   /// @check <constraint_name>                 a CHECK constraint the table must have (validated)
 *   /// @partial <index_name> WHERE <predicate>  the @@index with map: <index_name> is partial
 * and a plain comment anywhere in the schema:
 *   // @sql-only <table>                         a table the migrations own that the schema leaves out
 */

export interface DriftItem {
  /** What is compared, e.g. `column tasks.creator_user_id`. */
  object: string;
  schema: string;
  database: string;
}

export interface DriftResult {
  ok: boolean;
  items: DriftItem[];
  /** Human-readable diff, empty when there is no drift. */
  diff: string;
}

interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: 'scalar' | 'enum' | 'object' | 'unsupported';
  type: string;
  nativeType?: [string, string[]] | null;
  isRequired: boolean;
  isList: boolean;
  hasDefaultValue: boolean;
  default?: unknown;
  isUpdatedAt?: boolean;
  relationFromFields?: string[];
  relationToFields?: string[];
}
interface DmmfModel {
  name: string;
  dbName?: string | null;
  fields: DmmfField[];
  primaryKey?: { fields: string[] } | null;
  documentation?: string;
}
interface DmmfIndex {
  model: string;
  type: 'id' | 'unique' | 'normal' | 'fulltext';
  dbName?: string;
  fields: Array<{ name: string }>;
}
interface DmmfEnum {
  name: string;
  dbName?: string | null;
  values: Array<{ name: string; dbName?: string | null }>;
}
interface Datamodel {
  models: DmmfModel[];
  enums: DmmfEnum[];
  indexes?: DmmfIndex[];
}

/** Compares the database at `databaseUrl` (already migrated) with the Prisma schema at `schemaPath`. */
export async function checkDrift(opts: { databaseUrl: string; schemaPath: string; dbSchema?: string }): Promise<DriftResult> {
  const text = await readFile(opts.schemaPath, 'utf8');
  const { default: internals } = await import('@prisma/internals');
  const dmmf = await internals.getDMMF({ datamodel: text });
  const expected = expectedSchema(dmmf.datamodel as unknown as Datamodel, text);
  const client = new pg.Client({ connectionString: opts.databaseUrl, application_name: 'agentplane-drift' });
  await client.connect();
  try {
    const actual = await readCatalog(client, opts.dbSchema ?? 'public');
    const items = compare(expected, actual);
    return { ok: items.length === 0, items, diff: formatDrift(items) };
  } finally {
    await client.end();
  }
}

export function formatDrift(items: DriftItem[]): string {
  return items.map((i) => `  ${i.object}\n    - schema:   ${i.schema}\n    + database: ${i.database}`).join('\n');
}

// ---- the shape both sides are reduced to ----

interface Column {
  type: string;
  notNull: boolean;
  default: string | null;
}
interface Index {
  columns: string[];
  unique: boolean;
  predicate: string | null;
  valid: boolean;
}
interface Table {
  columns: Map<string, Column>;
  primaryKey: string[];
  indexes: Map<string, Index>;
  checks: Map<string, { valid: boolean }>;
  foreignKeys: Set<string>;
}
interface Shape {
  tables: Map<string, Table>;
  enums: Map<string, string[]>;
  ignoredTables: Set<string>;
}

const newTable = (): Table => ({ columns: new Map(), primaryKey: [], indexes: new Map(), checks: new Map(), foreignKeys: new Set() });

const fkKey = (cols: string[], refTable: string, refCols: string[]) => `(${cols.join(', ')}) → ${refTable} (${refCols.join(', ')})`;

export function expectedSchema(dm: Datamodel, schemaText: string): Shape {
  const tables = new Map<string, Table>();
  const enums = new Map(dm.enums.map((e) => [e.dbName ?? e.name, e.values.map((v) => v.dbName ?? v.name)]));
  const enumDbName = new Map(dm.enums.map((e) => [e.name, e.dbName ?? e.name]));
  const tableOf = new Map(dm.models.map((m) => [m.name, m.dbName ?? m.name]));
  const colOf = (m: DmmfModel, field: string) => {
    const f = m.fields.find((x) => x.name === field);
    return f?.dbName ?? field;
  };
  for (const m of dm.models) {
    const table = newTable();
    const name = m.dbName ?? m.name;
    tables.set(name, table);
    for (const f of m.fields) {
      if (f.kind === 'object') {
        if (f.relationFromFields?.length) {
          const target = dm.models.find((x) => x.name === f.type);
          table.foreignKeys.add(
            fkKey(
              f.relationFromFields.map((x) => colOf(m, x)),
              tableOf.get(f.type) ?? f.type,
              (f.relationToFields ?? []).map((x) => (target ? colOf(target, x) : x)),
            ),
          );
        }
        continue;
      }
      table.columns.set(f.dbName ?? f.name, {
        type: expectedType(f, enumDbName),
        notNull: f.isRequired && !f.isList,
        default: expectedDefault(f),
      });
    }
    const pk = m.primaryKey?.fields ?? m.fields.filter((f) => (f as { isId?: boolean }).isId).map((f) => f.name);
    table.primaryKey = pk.map((f) => colOf(m, f));
    const partial = new Map<string, string>();
    for (const line of (m.documentation ?? '').split('\n')) {
      const check = /^\s*@check\s+(\S+)\s*$/.exec(line);
      if (check) table.checks.set(check[1], { valid: true });
      const where = /^\s*@partial\s+(\S+)\s+where\s+(.+)$/i.exec(line);
      if (where) partial.set(where[1], where[2].trim());
    }
    for (const idx of (dm.indexes ?? []).filter((i) => i.model === m.name && (i.type === 'unique' || i.type === 'normal'))) {
      const columns = idx.fields.map((f) => colOf(m, f.name));
      const idxName = idx.dbName ?? `${name}_${columns.join('_')}_${idx.type === 'unique' ? 'key' : 'idx'}`;
      table.indexes.set(idxName, { columns, unique: idx.type === 'unique', predicate: partial.get(idxName) ?? null, valid: true });
      partial.delete(idxName);
    }
    for (const [idxName, predicate] of partial) {
      table.indexes.set(idxName, { columns: ['(declared only by @partial, no @@index)'], unique: false, predicate, valid: true });
    }
  }
  const ignoredTables = new Set([MIGRATIONS_TABLE, ...[...schemaText.matchAll(/^\s*\/\/\s*@sql-only\s+(\S+)/gm)].map((x) => x[1])]);
  return { tables, enums, ignoredTables };
}

const SCALAR_TYPES: Record<string, string> = {
  String: 'text',
  Int: 'integer',
  BigInt: 'bigint',
  Float: 'double precision',
  Decimal: 'numeric(65,30)',
  Boolean: 'boolean',
  DateTime: 'timestamp(3) without time zone',
  Json: 'jsonb',
  Bytes: 'bytea',
};

function expectedType(f: DmmfField, enumDbName: Map<string, string>): string {
  const [native, args = []] = f.nativeType ?? [];
  const p = args[0] ?? '6';
  const nativeTypes: Record<string, string> = {
    Text: 'text',
    Uuid: 'uuid',
    VarChar: args[0] ? `character varying(${args[0]})` : 'character varying',
    Char: `character(${args[0] ?? 1})`,
    Citext: 'citext',
    Inet: 'inet',
    Xml: 'xml',
    SmallInt: 'smallint',
    Integer: 'integer',
    BigInt: 'bigint',
    Oid: 'oid',
    Real: 'real',
    DoublePrecision: 'double precision',
    Decimal: args.length ? `numeric(${args.join(',')})` : 'numeric',
    Money: 'money',
    Timestamptz: `timestamp(${p}) with time zone`,
    Timestamp: `timestamp(${p}) without time zone`,
    Date: 'date',
    Time: `time(${p}) without time zone`,
    Timetz: `time(${p}) with time zone`,
    Json: 'json',
    JsonB: 'jsonb',
    ByteA: 'bytea',
    Boolean: 'boolean',
    Bit: `bit(${args[0] ?? 1})`,
    VarBit: args[0] ? `bit varying(${args[0]})` : 'bit varying',
  };
  const base = native ? (nativeTypes[native] ?? native.toLowerCase()) : f.kind === 'enum' ? (enumDbName.get(f.type) ?? f.type) : (SCALAR_TYPES[f.type] ?? f.type);
  return normalizeType(f.isList ? `${base}[]` : base);
}

/** PostgreSQL's default precision for timestamp/time is 6, and format_type omits it. */
function normalizeType(t: string): string {
  return t
    .replace(/"/g, '')
    .replace(/^(timestamp|time) with(out)? time zone/, '$1(6) with$2 time zone')
    .replace(/\s+/g, ' ')
    .trim();
}

const CLIENT_SIDE_DEFAULTS = new Set(['uuid', 'cuid', 'nanoid', 'ulid']);

function expectedDefault(f: DmmfField): string | null {
  if (!f.hasDefaultValue || f.isUpdatedAt) return null;
  const d = f.default;
  if (d && typeof d === 'object' && !Array.isArray(d) && 'name' in d) {
    const fn = d as { name: string; args?: unknown[] };
    if (CLIENT_SIDE_DEFAULTS.has(fn.name)) return null;
    // Prisma Client fills `now()` in itself, with the instance's clock, and never leaves it to the column's DEFAULT:
    // a time the database must stamp is `dbgenerated("now()")`. So `now()` matches no database default.
    if (fn.name === 'now') return 'now() from the Prisma client\'s clock (write @default(dbgenerated("now()")))';
    if (fn.name === 'autoincrement' || fn.name === 'sequence') return 'nextval(…)';
    if (fn.name === 'dbgenerated') return fn.args?.length ? normalizeExpr(String(fn.args[0])) : '(any)';
    return `${fn.name}()`;
  }
  return Array.isArray(d) ? JSON.stringify(d) : String(d);
}

function normalizeDbDefault(expr: string | null, identity: string): string | null {
  if (identity) return 'nextval(…)';
  if (expr === null) return null;
  const e = expr.trim();
  if (/^nextval\(/i.test(e)) return 'nextval(…)';
  if (/^(now\(\)|current_timestamp)$/i.test(e)) return 'now()';
  const literal = /^'((?:[^']|'')*)'(?:::[\w\s."[\]()]+)?$/.exec(e);
  if (literal) return literal[1].replace(/''/g, "'");
  const num = /^\(?(-?\d+(?:\.\d+)?)\)?(?:::[\w\s"]+)?$/.exec(e);
  if (num) return num[1];
  return normalizeExpr(e);
}

/** Loose comparison of SQL expressions: case, quotes, parentheses, casts and spacing are ignored. */
export function normalizeExpr(e: string): string {
  return e
    .toLowerCase()
    .replace(/::[a-z_][\w ]*(\[\])?/g, '')
    .replace(/["()]/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

// ---- the database side ----

async function readCatalog(client: pg.Client, schema: string): Promise<Shape> {
  const tables = new Map<string, Table>();
  const rel = await client.query<{ table: string }>(
    `SELECT c.relname AS table FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition`,
    [schema],
  );
  for (const r of rel.rows) tables.set(r.table, newTable());
  const cols = await client.query<{ table: string; column: string; type: string; not_null: boolean; default: string | null; identity: string }>(
    `SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
            pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity::text AS identity
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY c.relname, a.attnum`,
    [schema],
  );
  for (const c of cols.rows) {
    tables.get(c.table)?.columns.set(c.column, { type: normalizeType(c.type), notNull: c.not_null, default: normalizeDbDefault(c.default, c.identity) });
  }
  const idx = await client.query<{ table: string; index: string; unique: boolean; primary: boolean; valid: boolean; predicate: string | null; columns: string[]; exprs: boolean }>(
    `SELECT t.relname AS table, i.relname AS index, x.indisunique AS unique, x.indisprimary AS primary, x.indisvalid AS valid,
            pg_get_expr(x.indpred, x.indrelid) AS predicate, x.indexprs IS NOT NULL AS exprs,
            ARRAY(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns
       FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE n.nspname = $1`,
    [schema],
  );
  for (const i of idx.rows) {
    const table = tables.get(i.table);
    if (!table) continue;
    if (i.primary) table.primaryKey = i.columns;
    else table.indexes.set(i.index, { columns: i.exprs ? [...i.columns, '(expression)'] : i.columns, unique: i.unique, predicate: i.predicate, valid: i.valid });
  }
  const cons = await client.query<{ table: string; name: string; type: string; valid: boolean; columns: string[]; ref_table: string | null; ref_columns: string[] }>(
    `SELECT t.relname AS table, con.conname AS name, con.contype::text AS type, con.convalidated AS valid,
            ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns,
            rt.relname AS ref_table,
            ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord) AS ref_columns
       FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
       LEFT JOIN pg_class rt ON rt.oid = con.confrelid
      WHERE n.nspname = $1 AND con.contype IN ('c', 'f')`,
    [schema],
  );
  for (const c of cons.rows) {
    const table = tables.get(c.table);
    if (!table) continue;
    if (c.type === 'c') table.checks.set(c.name, { valid: c.valid });
    else table.foreignKeys.add(fkKey(c.columns, c.ref_table ?? '?', c.ref_columns));
  }
  const en = await client.query<{ name: string; values: string[] }>(
    `SELECT t.typname AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS values
       FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE n.nspname = $1 GROUP BY t.typname`,
    [schema],
  );
  return { tables, enums: new Map(en.rows.map((e) => [e.name, e.values])), ignoredTables: new Set() };
}

// ---- comparison ----

const MISSING = '(missing)';
const describeColumn = (c: Column) => `${c.type} ${c.notNull ? 'NOT NULL' : 'NULL'}${c.default === null ? '' : ` DEFAULT ${c.default}`}`;
const describeIndex = (i: Index) =>
  `${i.unique ? 'UNIQUE ' : ''}(${i.columns.join(', ')})${i.predicate ? ` WHERE ${i.predicate}` : ''}${i.valid ? '' : ' INVALID'}`;

export function compare(expected: Shape, actual: Shape): DriftItem[] {
  const items: DriftItem[] = [];
  const push = (object: string, schema: string, database: string) => items.push({ object, schema, database });
  for (const [name, values] of expected.enums) {
    const got = actual.enums.get(name);
    if (!got || got.join(',') !== values.join(',')) push(`enum ${name}`, values.join(', '), got ? got.join(', ') : MISSING);
  }
  for (const [name, values] of actual.enums) if (!expected.enums.has(name)) push(`enum ${name}`, MISSING, values.join(', '));

  for (const [name, want] of expected.tables) {
    const got = actual.tables.get(name);
    if (!got) {
      push(`table ${name}`, `${want.columns.size} columns`, MISSING);
      continue;
    }
    for (const [col, w] of want.columns) {
      const g = got.columns.get(col);
      if (!g) push(`column ${name}.${col}`, describeColumn(w), MISSING);
      else if (w.type !== g.type || w.notNull !== g.notNull || !defaultsMatch(w.default, g.default)) push(`column ${name}.${col}`, describeColumn(w), describeColumn(g));
    }
    for (const [col, g] of got.columns) if (!want.columns.has(col)) push(`column ${name}.${col}`, MISSING, describeColumn(g));
    if (want.primaryKey.join(',') !== got.primaryKey.join(',')) push(`primary key ${name}`, `(${want.primaryKey.join(', ')})`, got.primaryKey.length ? `(${got.primaryKey.join(', ')})` : MISSING);
    for (const [idx, w] of want.indexes) {
      const g = got.indexes.get(idx);
      if (!g) push(`index ${name}.${idx}`, describeIndex(w), MISSING);
      else if (describeIndex(w) !== describeIndex(g) && !indexesMatch(w, g)) push(`index ${name}.${idx}`, describeIndex(w), describeIndex(g));
    }
    for (const [idx, g] of got.indexes) if (!want.indexes.has(idx)) push(`index ${name}.${idx}`, MISSING, describeIndex(g));
    for (const [ck, w] of want.checks) {
      const g = got.checks.get(ck);
      if (!g) push(`check ${name}.${ck}`, 'declared (/// @check)', MISSING);
      else if (g.valid !== w.valid) push(`check ${name}.${ck}`, 'valid', 'NOT VALID (its VALIDATE migration is missing)');
    }
    for (const ck of got.checks.keys()) if (!want.checks.has(ck)) push(`check ${name}.${ck}`, `${MISSING} (declare it with /// @check ${ck})`, 'present');
    for (const fk of want.foreignKeys) if (!got.foreignKeys.has(fk)) push(`foreign key ${name} ${fk}`, 'declared by a relation', MISSING);
    for (const fk of got.foreignKeys) if (!want.foreignKeys.has(fk)) push(`foreign key ${name} ${fk}`, MISSING, 'present');
  }
  for (const name of actual.tables.keys()) {
    if (!expected.tables.has(name) && !expected.ignoredTables.has(name)) push(`table ${name}`, `${MISSING} (no model; mark SQL-only tables with // @sql-only ${name})`, 'present');
  }
  return items;
}

function defaultsMatch(want: string | null, got: string | null): boolean {
  if (want === '(any)') return got !== null;
  if (want === null || got === null) return want === got;
  return want === got || normalizeExpr(want) === normalizeExpr(got);
}

function indexesMatch(w: Index, g: Index): boolean {
  return (
    w.unique === g.unique &&
    w.valid === g.valid &&
    w.columns.join(',') === g.columns.join(',') &&
    (w.predicate === null) === (g.predicate === null) &&
    (w.predicate === null || normalizeExpr(w.predicate) === normalizeExpr(g.predicate ?? ''))
  );
}
