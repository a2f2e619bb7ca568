module.exports = { ...require('../../jest.preset.cjs'), displayName: 'authz-proxy', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.int-spec.ts'] };
