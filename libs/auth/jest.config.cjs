module.exports = { ...require('../../jest.preset.cjs'), displayName: 'auth', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.int-spec.ts'] };
