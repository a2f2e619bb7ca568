module.exports = { ...require('../../jest.preset.cjs'), displayName: 'migrate', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.int-spec.ts'] };
