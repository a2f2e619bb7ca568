module.exports = { ...require('../../jest.preset.cjs'), displayName: 'domain', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.int-spec.ts'] };
