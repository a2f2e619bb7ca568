import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { dropDatabase, ensureDatabase } from '../src/db.js';

const SERVER = process.env['TEST_PG_URL'] ?? 'postgresql://postgres@127.0.0.1:5432';

/** Fresh scratch databases (name contains `test`), dropped by `dropAll`. */
export class Scratch {
  private urls: string[] = [];
  private dirs: string[] = [];

  async db(prefix: string): Promise<string> {
    const name = `ap_${prefix}_${randomBytes(4).toString('hex')}_test`;
    const url = `${SERVER}/${name}`;
    if (!name.includes('test')) throw new Error('test databases must have test in their name');
    await ensureDatabase(url);
    this.urls.push(url);
    return url;
  }

  /** Writes `{ '<ts>_<name>': sql }` as a migrations folder. */
  async migrations(files: Record<string, string>): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ap-migrate-'));
    this.dirs.push(dir);
    await addMigrations(dir, files);
    return dir;
  }

  async dropAll(): Promise<void> {
    await Promise.all(this.urls.map((u) => dropDatabase(u)));
    await Promise.all(this.dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

export async function addMigrations(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, sql] of Object.entries(files)) {
    await mkdir(path.join(dir, name), { recursive: true });
    await writeFile(path.join(dir, name, 'migration.sql'), sql);
  }
}

export async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

export async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = await connect(url);
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
