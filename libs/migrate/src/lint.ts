import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  isConcurrentIndexBuild,
  isConcurrentIndexDrop,
  isConcurrentReindex,
  isNoTransaction,
  needsNoTransaction,
  nodeOf,
  notValidConstraints,
  splitStatements,
  validatedConstraints,
  type Statement,
} from './sql.js';

export interface Finding {
  rule: string;
  file: string;
  /** 1-based line in the file. */
  line: number;
  message: string;
}

export interface LintOptions {
  /** squawk config; default: the nearest `.squawk.toml` above the first file (or the cwd). */
  squawkConfig?: string;
}

/** Our own rules, named with this prefix; squawk's keep their own names. */
export const RULE_PREFIX = 'agentplane/';

/**
 * Lints migration files with the runner's semantics: squawk over each file (one transaction, or
 * statement by statement for `-- migrate:no-transaction`), plus the rules squawk lacks.
 */
export async function lintMigrationFiles(files: string[], opts: LintOptions = {}): Promise<Finding[]> {
  const findings: Finding[] = [];
  const transactional: string[] = [];
  const autocommit: string[] = [];
  for (const file of files) {
    const sql = await readFile(file, 'utf8');
    const noTx = isNoTransaction(sql);
    (noTx ? autocommit : transactional).push(file);
    findings.push(...(await ownRules(file, sql, noTx)));
  }
  const config = opts.squawkConfig ?? findUp(path.dirname(path.resolve(files[0] ?? '.')), '.squawk.toml') ?? findUp(process.cwd(), '.squawk.toml');
  findings.push(...(await squawk(transactional, true, config)), ...(await squawk(autocommit, false, config)));
  return findings.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.rule.localeCompare(b.rule));
}

async function ownRules(file: string, sql: string, noTx: boolean): Promise<Finding[]> {
  let statements: Statement[];
  try {
    statements = await splitStatements(sql);
  } catch (err) {
    const cursor = (err as { sqlDetails?: { cursorPosition?: number } }).sqlDetails?.cursorPosition;
    const line = cursor === undefined ? 1 : sql.slice(0, cursor).split('\n').length;
    return [{ rule: `${RULE_PREFIX}syntax`, file, line, message: (err as Error).message }];
  }
  const out: Finding[] = [];
  const add = (rule: string, s: Statement, message: string) => out.push({ rule: RULE_PREFIX + rule, file, line: s.line, message });
  if (noTx) {
    for (const s of statements) {
      if (!needsNoTransaction(s)) {
        add('no-transaction-only', s, `${nodeOf(s)[0]} does not need -- migrate:no-transaction; keep only CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY and VALIDATE CONSTRAINT here and move it to a transactional migration`);
      } else if (isConcurrentIndexBuild(s)) {
        const [, body] = nodeOf(s);
        if (!body['idxname'] || body['if_not_exists'] !== true) add('resumable-step', s, 'CREATE INDEX CONCURRENTLY needs an explicit name and IF NOT EXISTS so a half-applied migration can resume');
      } else if (isConcurrentIndexDrop(s) && nodeOf(s)[1]['missing_ok'] !== true) {
        add('resumable-step', s, 'DROP INDEX CONCURRENTLY needs IF EXISTS so a half-applied migration can resume');
      }
    }
    return out;
  }
  const addedNotValid = new Set(statements.flatMap(notValidConstraints));
  for (const s of statements) {
    if (isConcurrentIndexBuild(s) || isConcurrentIndexDrop(s) || isConcurrentReindex(s)) {
      add('concurrently-in-transaction', s, 'CONCURRENTLY cannot run inside a transaction; move it to its own migration starting with -- migrate:no-transaction');
    }
    for (const name of validatedConstraints(s)) {
      if (addedNotValid.has(name)) {
        add('validate-with-not-valid', s, `VALIDATE CONSTRAINT ${name} shares a transaction with its NOT VALID, so the ACCESS EXCLUSIVE lock is held for the whole scan; validate in a later -- migrate:no-transaction migration`);
      } else {
        add('validate-in-transaction', s, `VALIDATE CONSTRAINT ${name} belongs in its own -- migrate:no-transaction migration, after the migration that added it NOT VALID`);
      }
    }
  }
  return out;
}

interface SquawkViolation {
  file: string;
  line: number;
  rule_name: string;
  message: string;
}

async function squawk(files: string[], inTransaction: boolean, config: string | undefined): Promise<Finding[]> {
  if (files.length === 0) return [];
  const args = [squawkBin(), '--reporter', 'json', inTransaction ? '--assume-in-transaction' : '--no-assume-in-transaction'];
  if (config) args.push('--config', config);
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [...args, ...files], { maxBuffer: 64 * 1024 * 1024 }, (err, out, errOut) => {
      // squawk exits 1 when it finds something; only a run without JSON output is a real failure
      if (err && !out.trim().startsWith('[')) reject(new Error(`squawk failed: ${errOut || err.message}`));
      else resolve(out);
    });
  });
  const violations = JSON.parse(stdout.trim() || '[]') as SquawkViolation[];
  return violations.map((v) => ({ rule: v.rule_name, file: v.file, line: v.line + 1, message: v.message }));
}

function squawkBin(): string {
  const pkg = createRequire(import.meta.url).resolve('squawk-cli/package.json');
  return path.join(path.dirname(pkg), 'js', 'bin', 'squawk');
}

function findUp(start: string, name: string): string | undefined {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, name))) return path.join(dir, name);
    if (path.dirname(dir) === dir) return undefined;
  }
}
