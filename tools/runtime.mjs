// The runtime the repo brings (DESIGN §1): Node 24 from the npm package `node`, pinned in package.json.
// Every npm script already finds it first on its PATH (node_modules/.bin); these helpers cover the one case where a
// script started before the install existed (a fresh clone's `npm start` on a machine with an older Node).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const REQUIRED_MAJOR = 24;

export const majorOf = (version) => Number(String(version).replace(/^v/, '').split('.')[0]);

/** The repo's own Node binary, once `npm ci` has installed it. */
export function repoNode(root) {
  const bin = join(root, 'node_modules', '.bin', 'node');
  return existsSync(bin) ? bin : undefined;
}

/**
 * Re-runs this script on the repo's Node when the current process runs another major. Resolves at once when it already
 * runs on the right one; otherwise never resolves (the process exits with the child's code). PATH gets node_modules/.bin first, so everything the script starts runs on it too.
 */
export function ensureRepoRuntime(root, script, args = process.argv.slice(2)) {
  if (majorOf(process.version) === REQUIRED_MAJOR) return;
  const bin = repoNode(root);
  if (!bin) throw new Error(`Node ${REQUIRED_MAJOR} is not installed under node_modules/.bin (run npm ci); this is ${process.version}`);
  const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  if (majorOf(version) !== REQUIRED_MAJOR) throw new Error(`node_modules/.bin/node is ${version}, not Node ${REQUIRED_MAJOR}: run npm ci`);
  console.log(`runtime: ${process.version} here; re-running ${script} on the repo's Node ${version}`);
  const env = { ...process.env, PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH ?? ''}` };
  // Wait on the child (never returning), forwarding SIGINT/SIGTERM so a supervisor's signal reaches it.
  const child = spawn(bin, [script, ...args], { stdio: 'inherit', env });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  return new Promise(() => {});
}
