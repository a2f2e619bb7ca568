module.exports = { ...require('../../jest.preset.cjs'), displayName: 'authz-client', testMatch: ['<rootDir>/src/**/*.spec.ts'] };
