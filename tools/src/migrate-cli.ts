import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  checkDrift,
  discoverServices,
  dropDatabase,
  ensureDatabase,
  lintMigrationFiles,
  migrate,
  migrationStatus,
} from '@agentplane/migrate';
import { DEFAULT_PG_SERVER, repoRoot, serviceDatabaseUrl } from './migrate-root.js';

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  env: Record<string, string | undefined>;
}

const MIGRATE_USAGE = `usage: migrate <up|status> (--service <svc> | --dir <migrations dir> [--url <database url>])
                   [--url <database url>] [--lock-timeout-ms <ms>] [--max-retries <n>]
  --service <svc>   dir prisma/<svc>/migrations; url from DATABASE_URL or ${serviceDatabaseUrl('<svc>')}
  --dir <dir>       relative to the repo root unless absolute; url from --url or DATABASE_URL
  up creates the database if it does not exist.`;

/** `migrate up|status`; returns the exit code. */
export async function migrateCli(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      url: { type: 'string' },
      service: { type: 'string' },
      'lock-timeout-ms': { type: 'string' },
      'max-retries': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals[0] ?? 'up';
  if (values.help || !['up', 'status'].includes(command) || (!values.dir && !values.service)) {
    io.err(MIGRATE_USAGE);
    return values.help ? 0 : 2;
  }
  const root = repoRoot();
  const dir = values.dir ? path.resolve(root, values.dir) : path.join(root, 'prisma', values.service as string, 'migrations');
  const url = values.url ?? io.env['DATABASE_URL'] ?? (values.service ? serviceDatabaseUrl(values.service) : undefined);
  if (!url) {
    io.err('migrate: no database: pass --url, set DATABASE_URL or use --service');
    return 2;
  }
  if (!existsSync(dir)) {
    io.err(`migrate: no migrations folder at ${dir}`);
    return 2;
  }
  try {
    if (command === 'status') {
      for (const s of await migrationStatus({ databaseUrl: url, dir })) io.out(`${s.state.padEnd(8)} ${s.name}`);
      return 0;
    }
    const { created } = await ensureDatabase(url);
    if (created) io.out(`migrate: created database ${new URL(url).pathname.slice(1)}`);
    await migrate({
      databaseUrl: url,
      dir,
      lockTimeoutMs: numberOption(values['lock-timeout-ms']),
      maxRetries: numberOption(values['max-retries']),
      log: io.out,
    });
    return 0;
  } catch (err) {
    io.err(`migrate: ${(err as Error).message}`);
    return 1;
  }
}

function numberOption(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`not a non-negative integer: ${v}`);
  return n;
}

/** `lint-migrations [file...]`: every migration of every service by default; exit 1 on findings. */
export async function lintCli(argv: string[], io: Io): Promise<number> {
  const root = repoRoot();
  const files = argv.length
    ? argv.map((f) => (path.isAbsolute(f) || existsSync(f) ? path.resolve(f) : path.resolve(root, f)))
    : (await discoverServices(root)).flatMap((s) => s.migrationFiles);
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length) {
    io.err(`lint-migrations: no such file: ${missing.join(', ')}`);
    return 2;
  }
  const findings = await lintMigrationFiles(files, { squawkConfig: path.join(root, '.squawk.toml') });
  for (const f of findings) io.out(`${f.rule} ${path.relative(root, f.file)}:${f.line} ${f.message}`);
  io.out(`lint-migrations: ${files.length} migrations, ${findings.length} findings`);
  return findings.length ? 1 : 0;
}

/** `drift [svc...]`: migrates a scratch database per service and compares it with schema.prisma. */
export async function driftCli(argv: string[], io: Io): Promise<number> {
  const root = repoRoot();
  const server = (io.env['DRIFT_PG_SERVER'] ?? DEFAULT_PG_SERVER).replace(/\/+$/, '');
  const services = (await discoverServices(root)).filter((s) => s.schemaPath && (argv.length === 0 || argv.includes(s.service)));
  let drifted = 0;
  for (const svc of services) {
    const url = `${server}/ap_drift_${svc.service.replace(/-/g, '_')}_${randomBytes(4).toString('hex')}_test`;
    await ensureDatabase(url);
    try {
      await migrate({ databaseUrl: url, dir: svc.migrationsDir, log: () => undefined });
      const res = await checkDrift({ databaseUrl: url, schemaPath: svc.schemaPath as string });
      if (res.ok) io.out(`drift: ${svc.service} ok (${svc.migrationFiles.length} migrations match ${path.relative(root, svc.schemaPath as string)})`);
      else {
        drifted++;
        io.out(`drift: ${svc.service}: the migrated database differs from ${path.relative(root, svc.schemaPath as string)}:\n${res.diff}`);
      }
    } catch (err) {
      drifted++;
      io.err(`drift: ${svc.service}: ${(err as Error).message}`);
    } finally {
      await dropDatabase(url);
    }
  }
  if (services.length === 0) io.err('drift: no prisma/*/schema.prisma found');
  return drifted || services.length === 0 ? 1 : 0;
}

export const processIo = (): Io => ({
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
  env: process.env,
});
