import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';

export interface ServiceDb {
  service: string;
  migrationsDir: string;
  /** Absent when the folder has migrations but no Prisma schema. */
  schemaPath?: string;
  /** `<migrationsDir>/<name>/migration.sql` of every migration, in order. */
  migrationFiles: string[];
}

/** Every `prisma/<svc>` folder of the repo with migrations or a schema, found at call time. */
export async function discoverServices(repoRoot: string): Promise<ServiceDb[]> {
  const prisma = path.join(repoRoot, 'prisma');
  const out: ServiceDb[] = [];
  for (const entry of (await readdir(prisma, { withFileTypes: true })).filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    const migrationsDir = path.join(prisma, entry.name, 'migrations');
    const schemaPath = path.join(prisma, entry.name, 'schema.prisma');
    const names = existsSync(migrationsDir) ? (await readdir(migrationsDir)).sort() : [];
    const migrationFiles = names.map((n) => path.join(migrationsDir, n, 'migration.sql')).filter((f) => existsSync(f));
    if (migrationFiles.length === 0 && !existsSync(schemaPath)) continue;
    out.push({ service: entry.name, migrationsDir, schemaPath: existsSync(schemaPath) ? schemaPath : undefined, migrationFiles });
  }
  return out;
}
