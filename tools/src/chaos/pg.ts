import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** A PostgreSQL cluster of the chaos run's own (initdb + pg_ctl in a temp dir), so restarting it hurts nobody else. */
export interface PgCluster {
  port: number;
  url(database: string): string;
  restart(): void;
  stop(): void;
}

function pgBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) throw new Error(`no PostgreSQL server binaries under ${root} (initdb, pg_ctl)`);
  return join(root, versions[0], 'bin');
}

/** As root, PostgreSQL's tools refuse to run: they run as the `postgres` user, which then owns the data directory. */
function runAsPostgres(cmd: string, args: string[]): string {
  const asRoot = process.getuid?.() === 0;
  return execFileSync(asRoot ? 'runuser' : cmd, asRoot ? ['-u', 'postgres', '--', cmd, ...args] : args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function startPgCluster(dir: string, port: number): PgCluster {
  const bin = pgBin();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (process.getuid?.() === 0) {
    const pw = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
    const gid = execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim();
    chownSync(dir, Number(pw), Number(gid));
  }
  const data = join(dir, 'data');
  runAsPostgres(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200`;
  const ctl = (...args: string[]) => runAsPostgres(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'server.log'), '-o', opts, '-w', '-t', '60', ...args]);
  ctl('start');
  return {
    port,
    url: (database) => `postgresql://postgres@127.0.0.1:${port}/${database}`,
    restart: () => void ctl('restart', '-m', 'fast'),
    stop: () => {
      try {
        ctl('stop', '-m', 'fast');
      } catch {
        // already stopped
      }
    },
  };
}
