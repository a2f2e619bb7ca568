module.exports = { ...require('../../jest.preset.cjs'), displayName: 'messaging', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.int-spec.ts'] };
