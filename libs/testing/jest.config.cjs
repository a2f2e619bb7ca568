module.exports = { ...require('../../jest.preset.cjs'), displayName: 'testing', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.int-spec.ts'] };
