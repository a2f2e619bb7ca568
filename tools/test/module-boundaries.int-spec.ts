import { execSync } from 'node:child_process';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import { REPO_ROOT } from '../src/stack.js';

/** Proves the module-boundary rules are live: each forbidden import is a lint error, the allowed one is not. */
describe('module boundaries (eslint @nx/enforce-module-boundaries)', () => {
  let eslint: ESLint;

  beforeAll(() => {
    // The rule reads Nx's cached project graph; make sure it exists (as `nx run-many -t lint` does).
    execSync('npx nx show projects', { cwd: REPO_ROOT, stdio: 'ignore', env: { ...process.env, NX_DAEMON: 'false' } });
    eslint = new ESLint({ cwd: REPO_ROOT });
  }, 120_000);

  async function errorsFor(file: string, code: string): Promise<string[]> {
    const [result] = await eslint.lintText(code, { filePath: join(REPO_ROOT, file) });
    return result!.messages.filter((m) => m.ruleId === '@nx/enforce-module-boundaries').map((m) => m.message);
  }

  it.each([
    ['libs/domain/src/probe.ts', "import { Injectable } from '@nestjs/common';\nexport const x = Injectable;\n", /not allowed to import "@nestjs\/common"/],
    ['libs/contracts/src/probe.ts', "import { PrismaClient } from '@prisma/client';\nexport const x = PrismaClient;\n", /not allowed to import "@prisma\/client"/],
    ['libs/domain/src/probe.ts', "import { connect } from '@nats-io/transport-node';\nexport const x = connect;\n", /not allowed to import "@nats-io/],
    ['apps/gateway/src/probe.ts', "import { AppModule } from '@agentplane/tasks/src/app.module.js';\nexport const x = AppModule;\n", /Imports of apps are forbidden/],
    ['apps/gateway/src/probe.ts', "import { AppModule } from '../../tasks/src/app.module.js';\nexport const x = AppModule;\n", /cannot be imported by a relative or absolute path/],
    ['apps/tasks/src/probe.ts', "import { PrismaClient } from '@agentplane/db-hook-registry';\nexport const x = PrismaClient;\n", /scope:tasks/],
    // the console speaks only REST through its generated client: no workspace project, not even a shared lib
    ['apps/console/src/probe.tsx', "import { DomainError } from '@agentplane/domain';\nexport const x = DomainError;\n", /scope:console/],
  ])('%s: forbidden import is an error', async (file, code, message) => {
    const errors = await errorsFor(file, code);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join('\n')).toMatch(message);
  });

  it('allows a service to import its own db package and shared libs', async () => {
    const code = "import { PrismaClient } from '@agentplane/db-tasks';\nimport { DomainError } from '@agentplane/domain';\nexport const x = [PrismaClient, DomainError];\n";
    expect(await errorsFor('apps/tasks/src/probe.ts', code)).toEqual([]);
  });
});
