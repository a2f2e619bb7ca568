#!/usr/bin/env node
// `npm test`: every check CI runs, in order, ending with one line of counts.
//   build → lint + typecheck → migration lint → drift check → OpenAPI lint → unit, integration and e2e tests (real PostgreSQL/NATS).
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureRepoRuntime } from './runtime.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Every check runs on the repo's Node 24 (DESIGN §1), even when this script was started by an older system Node.
await ensureRepoRuntime(root, fileURLToPath(import.meta.url));
console.log(`runtime: Node ${process.version}`);
const env = { ...process.env, NX_DAEMON: 'false', NX_TUI: 'false', FORCE_COLOR: '0', PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH ?? ''}` };
const started = Date.now();
const step = (title, cmd) => {
  const t = Date.now();
  console.log(`\n=== ${title}: ${cmd}`);
  execSync(cmd, { cwd: root, stdio: 'inherit', env });
  console.log(`=== ${title}: ok (${((Date.now() - t) / 1000).toFixed(1)} s)`);
};

const resultsDir = join(root, 'tmp', 'jest-results');
rmSync(resultsDir, { recursive: true, force: true });
let failed = false;
try {
  step('build', 'npx nx run-many -t build --output-style=stream-without-prefixes');
  step('lint + typecheck', 'npx nx run-many -t lint typecheck --output-style=stream-without-prefixes');
  step('migration lint', 'npm run lint:migrations');
  step('drift check', 'npm run db:drift');
  step('OpenAPI lint', 'npm run lint:openapi');
  step('tests', 'npx nx run-many -t test --parallel=2 --skip-nx-cache --output-style=stream');
  // scale-out and faults (DESIGN §13): each invariant counts as a test in the closing line
  step('chaos', `npm run -s chaos -- --results ${join(resultsDir, 'chaos.json')}`);
} catch {
  failed = true;
}
let passed = 0;
let failedTests = 0;
let skipped = 0;
if (existsSync(resultsDir)) {
  for (const f of readdirSync(resultsDir)) {
    const r = JSON.parse(readFileSync(join(resultsDir, f), 'utf8'));
    passed += r.passed;
    failedTests += r.failed;
    skipped += r.skipped;
  }
}
console.log(`\nnpm test finished in ${((Date.now() - started) / 1000).toFixed(0)} s${failed ? ' with failures' : ''}`);
console.log(`${passed} passed, ${failedTests} failed, ${skipped} skipped`);
process.exit(failed || failedTests > 0 || passed === 0 ? 1 : 0);
