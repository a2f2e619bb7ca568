module.exports = { ...require('../../jest.preset.cjs'), displayName: 'idempotency', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.int-spec.ts'] };
