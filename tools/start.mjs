#!/usr/bin/env node
// `npm start` on a fresh machine: install (if needed), build every project, then bring the stack up.
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd) => execSync(cmd, { cwd: root, stdio: 'inherit', env: { ...process.env, NX_DAEMON: 'false' } });

if (!existsSync(join(root, 'node_modules', '.bin', 'nx'))) run('npm ci');
run('npx nx run-many -t build --output-style=stream-without-prefixes');
run('node tools/dist/stack-cli.js');
