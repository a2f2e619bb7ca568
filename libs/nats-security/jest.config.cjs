module.exports = { ...require('../../jest.preset.cjs'), displayName: 'nats-security', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.int-spec.ts'] };
