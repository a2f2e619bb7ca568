#!/usr/bin/env node
// `npm start` on a fresh machine: install (if needed), build every project, then bring the stack up, all on the
// repo's Node 24 (DESIGN §1): a first run on an older system Node installs, then re-runs itself on node_modules/.bin/node.
import { execSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureRepoRuntime } from './runtime.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env, NX_DAEMON: 'false', PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH ?? ''}` };
const run = (cmd) => execSync(cmd, { cwd: root, stdio: 'inherit', env });

if (!existsSync(join(root, 'node_modules', '.bin', 'nx')) || !existsSync(join(root, 'node_modules', '.bin', 'node'))) run('npm ci');
await ensureRepoRuntime(root, fileURLToPath(import.meta.url));
console.log(`stack: runtime Node ${process.version}`);
run('npx nx run-many -t build --output-style=stream-without-prefixes');
// The stack runs as a child that this process waits on: a SIGINT or SIGTERM sent to this process alone (a supervisor,
// `kill`) reaches it too, so it stops every app instead of leaving them running.
const stack = spawn(process.execPath, ['tools/dist/stack-cli.js'], { cwd: root, stdio: 'inherit', env });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => stack.kill(signal));
stack.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
