#!/usr/bin/env node
// The console's `test` target: Vitest component tests, then Playwright against the real stack; their counts go to
// tmp/jest-results/console.json, which `npm test` sums into its closing line (like tools/jest-summary-reporter.cjs).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const project = join(here, '..');
const root = join(project, '..', '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const vitestOut = join(project, 'tmp', 'vitest.json');
const playwrightOut = join(project, 'tmp', 'playwright.json');
rmSync(vitestOut, { force: true });
rmSync(playwrightOut, { force: true });
mkdirSync(join(project, 'tmp'), { recursive: true });

const run = (cmd, args) => spawnSync(cmd, args, { cwd: project, stdio: 'inherit', env: process.env }).status ?? 1;
const vitestStatus = run(bin('vitest'), ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${vitestOut}`]);
const playwrightStatus = run(bin('playwright'), ['test', '-c', 'e2e/playwright.config.ts']);

const counts = { project: 'apps_console', passed: 0, failed: 0, skipped: 0, suites: 0 };
if (existsSync(vitestOut)) {
  const v = JSON.parse(readFileSync(vitestOut, 'utf8'));
  counts.passed += v.numPassedTests;
  counts.failed += v.numFailedTests + (v.numFailedTestSuites ?? 0);
  counts.skipped += v.numPendingTests + (v.numTodoTests ?? 0);
  counts.suites += v.testResults.length;
} else counts.failed += 1;
if (existsSync(playwrightOut)) {
  const p = JSON.parse(readFileSync(playwrightOut, 'utf8'));
  counts.passed += p.stats.expected;
  counts.failed += p.stats.unexpected + p.stats.flaky + (p.errors?.length ?? 0);
  counts.skipped += p.stats.skipped;
  counts.suites += p.suites.length;
} else counts.failed += 1;
// a run that died before reporting (stack never booted) must not read as green
if (playwrightStatus !== 0 && counts.failed === 0) counts.failed = 1;
if (vitestStatus !== 0 && counts.failed === 0) counts.failed = 1;
const dir = join(root, 'tmp', 'jest-results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'console.json'), JSON.stringify(counts));
console.log(`console: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
process.exit(vitestStatus !== 0 || playwrightStatus !== 0 || counts.failed > 0 ? 1 : 0);
