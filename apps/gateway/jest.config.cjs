module.exports = { ...require('../../jest.preset.cjs'), displayName: 'gateway', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.int-spec.ts'] };
