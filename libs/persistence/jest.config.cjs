module.exports = { ...require('../../jest.preset.cjs'), displayName: 'persistence', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.int-spec.ts'] };
