module.exports = { ...require('../../jest.preset.cjs'), displayName: 'hook-registry', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.int-spec.ts'] };
