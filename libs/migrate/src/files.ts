import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { isNoTransaction } from './sql.js';

export interface MigrationFile {
  /** Folder name, `<UTC timestamp>_<name>`; also the bookkeeping key. */
  name: string;
  file: string;
  sql: string;
  checksum: string;
  noTransaction: boolean;
}

/** Reads `<dir>/<name>/migration.sql` in name order (the timestamp prefix orders them). */
export async function readMigrations(dir: string): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const out: MigrationFile[] = [];
  for (const name of names) {
    const file = path.join(dir, name, 'migration.sql');
    let sql: string;
    try {
      sql = await readFile(file, 'utf8');
    } catch {
      continue; // a folder without migration.sql is not a migration
    }
    out.push({ name, file, sql, checksum: checksum(sql), noTransaction: isNoTransaction(sql) });
  }
  return out;
}

export function checksum(sql: string): string {
  return createHash('sha256').update(sql, 'utf8').digest('hex');
}
