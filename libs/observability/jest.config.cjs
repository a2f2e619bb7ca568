module.exports = { ...require('../../jest.preset.cjs'), displayName: 'observability', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.int-spec.ts'] };
