module.exports = { ...require('../../jest.preset.cjs'), displayName: 'workspace-installer', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.int-spec.ts'] };
