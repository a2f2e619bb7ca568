import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The monorepo root: the nearest folder above this script whose package.json declares workspaces. */
export function repoRoot(from = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && 'workspaces' in (JSON.parse(readFileSync(pkg, 'utf8')) as object)) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no workspace root above ${from}`);
  }
}

export const DEFAULT_PG_SERVER = 'postgresql://postgres@127.0.0.1:5432';

/** Default database of a service: `agentplane_<svc>` with - replaced by _. */
export function serviceDatabaseUrl(service: string, server = DEFAULT_PG_SERVER): string {
  return `${server.replace(/\/+$/, '')}/agentplane_${service.replace(/-/g, '_')}`;
}
