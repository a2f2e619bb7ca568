// Shared Jest setup: ESM mode, @swc/jest with decorator metadata, workspace libs mapped to source.
const path = require('node:path');
const root = __dirname;

module.exports = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
          target: 'es2022',
          keepClassNames: true,
        },
        module: { type: 'es6' },
        sourceMaps: 'inline',
      },
    ],
  },
  moduleNameMapper: {
    '^@agentplane/db-(.*)$': path.join(root, 'prisma/$1/src/index.ts'),
    '^@agentplane/(.*)$': path.join(root, 'libs/$1/src/index.ts'),
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testTimeout: 30000,
  globalSetup: path.join(root, 'tools/jest/nats-global-setup.mjs'),
  globalTeardown: path.join(root, 'tools/jest/nats-global-teardown.mjs'),
  setupFilesAfterEnv: [path.join(root, 'tools/jest/cleanup-streams.ts')],
  reporters: ['default', path.join(root, 'tools/jest-summary-reporter.cjs')],
};
