import nx from '@nx/eslint-plugin';

/** Which projects may import which (project tags in each package.json's `nx.tags`). */
const depConstraints = [
  // framework-free core: domain and contracts
  {
    sourceTag: 'type:core',
    onlyDependOnLibsWithTags: ['type:core'],
    bannedExternalImports: ['@nestjs/*', '@prisma/*', 'nats', '@nats-io/*', 'pg', 'fastify'],
  },
  { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:core', 'type:lib'] },
  // a client for backends of any stack (libs/worker): nats.js and the contracts, no framework
  { sourceTag: 'framework:none', onlyDependOnLibsWithTags: ['type:core'], bannedExternalImports: ['@nestjs/*', '@prisma/*', 'pg', 'fastify'] },
  { sourceTag: 'type:db', onlyDependOnLibsWithTags: ['type:core', 'type:lib'] },
  { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:core', 'type:lib', 'type:db'] },
  { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['type:core', 'type:lib', 'type:db'] },
  // a service reaches only its own db-* package and shared libs
  { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
  { sourceTag: 'scope:gateway', onlyDependOnLibsWithTags: ['scope:shared'] },
  // the console speaks only REST, through its generated client: no workspace project at all
  { sourceTag: 'scope:console', onlyDependOnLibsWithTags: [] },
  { sourceTag: 'scope:tasks', onlyDependOnLibsWithTags: ['scope:shared', 'scope:tasks'] },
  { sourceTag: 'scope:hook-registry', onlyDependOnLibsWithTags: ['scope:shared', 'scope:hook-registry'] },
  { sourceTag: 'scope:workspace-installer', onlyDependOnLibsWithTags: ['scope:shared', 'scope:workspace-installer'] },
  { sourceTag: 'scope:authz-proxy', onlyDependOnLibsWithTags: ['scope:shared', 'scope:authz-proxy'] },
  { sourceTag: 'scope:tools', onlyDependOnLibsWithTags: ['scope:shared', 'scope:tasks', 'scope:hook-registry', 'scope:workspace-installer', 'scope:authz-proxy'] },
];

/**
 * A shared lib's own tests may also use a service's database package as a fixture schema (the outbox and
 * persistence tests run on db-tasks' tables); the lib itself never may.
 */
const libTestDepConstraints = depConstraints.map((c) => {
  if (c.sourceTag === 'type:lib') return { ...c, onlyDependOnLibsWithTags: [...c.onlyDependOnLibsWithTags, 'type:db'] };
  if (c.sourceTag === 'scope:shared') return { ...c, onlyDependOnLibsWithTags: [...c.onlyDependOnLibsWithTags, 'scope:tasks'] };
  return c;
});

/** The module-boundary rule under one set of constraints. */
const boundaries = (constraints) => ['error', { enforceBuildableLibDependency: false, allow: [], depConstraints: constraints }];

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    ignores: ['**/dist/**', '**/generated/**', '**/node_modules/**', '**/.nx/**', '**/coverage/**'],
  },
  {
    files: ['**/*.ts', '**/*.tsx'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries(depConstraints),
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // the console's Playwright setup boots the real stack (like tools/test/e2e/harness.ts); its pages never import it
    files: ['apps/console/e2e/**/*.ts'],
    rules: { '@nx/enforce-module-boundaries': 'off' },
  },
  {
    files: ['libs/*/test/**/*.ts'],
    rules: { '@nx/enforce-module-boundaries': boundaries(libTestDepConstraints) },
  },
  {
    files: ['**/*.spec.ts', '**/*.spec.tsx', '**/*.int-spec.ts', '**/test/**/*.ts', '**/e2e/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
];
