import { parse } from 'pgsql-parser';

export const NO_TRANSACTION_DIRECTIVE = '-- migrate:no-transaction';

/** One statement of a migration file, cut out by the real PostgreSQL parser. */
export interface Statement {
  sql: string;
  /** 1-based line of the statement's first character in the file. */
  line: number;
  /** The statement's parse tree node, e.g. `{ IndexStmt: {...} }`. */
  node: Record<string, unknown>;
}

/** True when the file's first line is exactly the no-transaction directive. */
export function isNoTransaction(sql: string): boolean {
  const firstLine = sql.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0] ?? '';
  return firstLine.trim().toLowerCase() === NO_TRANSACTION_DIRECTIVE;
}

interface RawStmt {
  stmt: Record<string, unknown>;
  stmt_location?: number;
  stmt_len?: number;
}

/** Splits SQL into statements with libpg_query; locations are UTF-8 byte offsets, so slice bytes. */
export async function splitStatements(sql: string): Promise<Statement[]> {
  const tree = (await parse(sql)) as unknown as { stmts?: RawStmt[] };
  const bytes = Buffer.from(sql, 'utf8');
  const out: Statement[] = [];
  for (const raw of tree.stmts ?? []) {
    const start = raw.stmt_location ?? 0;
    const end = raw.stmt_len === undefined || raw.stmt_len === 0 ? bytes.length : start + raw.stmt_len;
    const text = stripLeadingComments(bytes.subarray(start, end).toString('utf8'));
    const before = bytes.subarray(0, end).toString('utf8');
    const offset = before.length - bytes.subarray(start, end).toString('utf8').length;
    const lead = before.slice(offset).length - before.slice(offset).replace(/^(\s|--[^\n]*\n?|\/\*[\s\S]*?\*\/)+/, '').length;
    out.push({ sql: text, line: before.slice(0, offset + lead).split('\n').length, node: raw.stmt });
  }
  return out.filter((s) => s.sql.length > 0);
}

function stripLeadingComments(text: string): string {
  return text.replace(/^(\s|--[^\n]*\n?|\/\*[\s\S]*?\*\/)+/, '').trim();
}

/** The statement's node type and body, e.g. ['IndexStmt', {...}]. */
export function nodeOf(s: Statement): [string, Record<string, unknown>] {
  const [kind, body] = Object.entries(s.node)[0] ?? ['Unknown', {}];
  return [kind, (body ?? {}) as Record<string, unknown>];
}

export function isConcurrentIndexBuild(s: Statement): boolean {
  const [kind, body] = nodeOf(s);
  return kind === 'IndexStmt' && body['concurrent'] === true;
}

export function isConcurrentIndexDrop(s: Statement): boolean {
  const [kind, body] = nodeOf(s);
  return kind === 'DropStmt' && body['removeType'] === 'OBJECT_INDEX' && body['concurrent'] === true;
}

export function isConcurrentReindex(s: Statement): boolean {
  const [kind, body] = nodeOf(s);
  if (kind !== 'ReindexStmt') return false;
  const params = (body['params'] as Array<{ DefElem?: { defname?: string } }> | undefined) ?? [];
  return params.some((p) => p.DefElem?.defname === 'concurrently');
}

interface AlterCmd {
  subtype?: string;
  name?: string;
  def?: { Constraint?: { conname?: string; skip_validation?: boolean; contype?: string } };
}

export function alterTableCmds(s: Statement): AlterCmd[] {
  const [kind, body] = nodeOf(s);
  if (kind !== 'AlterTableStmt') return [];
  const cmds = (body['cmds'] as Array<{ AlterTableCmd?: AlterCmd }> | undefined) ?? [];
  return cmds.map((c) => c.AlterTableCmd ?? {});
}

/** Names of constraints a statement validates (`ALTER TABLE … VALIDATE CONSTRAINT name`). */
export function validatedConstraints(s: Statement): string[] {
  return alterTableCmds(s)
    .filter((c) => c.subtype === 'AT_ValidateConstraint' && c.name)
    .map((c) => c.name as string);
}

/** Names of constraints a statement adds `NOT VALID`. */
export function notValidConstraints(s: Statement): string[] {
  return alterTableCmds(s)
    .filter((c) => c.subtype === 'AT_AddConstraint' && c.def?.Constraint?.skip_validation === true)
    .map((c) => c.def?.Constraint?.conname ?? '')
    .filter((n) => n.length > 0);
}

export function isValidateOnly(s: Statement): boolean {
  const cmds = alterTableCmds(s);
  return cmds.length > 0 && cmds.every((c) => c.subtype === 'AT_ValidateConstraint');
}

/** Statements that cannot run (or must not run) inside a transaction block. */
export function needsNoTransaction(s: Statement): boolean {
  return isConcurrentIndexBuild(s) || isConcurrentIndexDrop(s) || isConcurrentReindex(s) || isValidateOnly(s);
}

export function indexBuildTarget(s: Statement): { index?: string; schema?: string; ifNotExists: boolean } {
  const [, body] = nodeOf(s);
  const relation = (body['relation'] ?? {}) as { schemaname?: string };
  return {
    index: body['idxname'] as string | undefined,
    schema: relation.schemaname,
    ifNotExists: body['if_not_exists'] === true,
  };
}
