/**
 * `npm run lint:openapi`: starts the built gateway on a free port (no services needed: the document is built from
 * its controllers and the zod contracts), writes its OpenAPI document (/docs-json) to tmp/openapi.json and lints it
 * with Redocly CLI (config: redocly.yaml, the recommended ruleset). Exits with the linter's status.
 *   npm run lint:openapi [-- --out tmp/openapi.json] [--write-only]
 * `--write-only` skips the lint: the console's build uses it to generate its typed client from the same document.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEV_JWT_SECRET } from '@agentplane/auth';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { startDevNats } from '@agentplane/nats-security';
import { REPO_ROOT, startStack } from './stack.js';

async function writeDocument(out: string): Promise<void> {
  // A NATS server of its own, secured as everywhere (the gateway needs one to be ready).
  const natsDir = mkdtempSync(join(tmpdir(), 'agentplane-openapi-nats-'));
  const nats = await startDevNats({ dir: natsDir });
  const stack = await startStack({
    only: ['gateway'],
    env: {
      ...(await nats.env('gateway')),
      NATS_SUBJECT_PREFIX: `openapi_${randomBytes(4).toString('hex')}.`,
      AUTH_JWT_SECRET: DEV_JWT_SECRET,
      LOG_LEVEL: 'warn',
    },
  }).catch(async (err: unknown) => {
    await nats.stop();
    throw err;
  });
  try {
    const res = await fetch(`${stack.gatewayUrl}/docs-json`);
    if (!res.ok) throw new Error(`GET /docs-json answered ${res.status}`);
    const doc = (await res.json()) as Record<string, unknown>;
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(doc, null, 2)}\n`);
    console.log(`lint:openapi: wrote ${out} (${Object.keys((doc['paths'] as object | undefined) ?? {}).length} paths)`);
  } finally {
    await stack.stop();
    await nats.stop();
    rmSync(natsDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { out: { type: 'string', default: join('tmp', 'openapi.json') }, 'write-only': { type: 'boolean', default: false } },
  });
  const out = resolve(REPO_ROOT, values.out);
  await writeDocument(out);
  if (values['write-only']) return;
  const cli = join(REPO_ROOT, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');
  const lint = spawnSync(process.execPath, [cli, 'lint', '--config', join(REPO_ROOT, 'redocly.yaml'), '--format', 'codeframe', out], {
    cwd: REPO_ROOT,
    stdio: 'inherit',
    // no telemetry and no update check: CI runs offline
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
  });
  process.exitCode = lint.status ?? 1;
}

main().catch((err: unknown) => {
  console.error(`lint:openapi: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
