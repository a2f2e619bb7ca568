module.exports = { ...require('../jest.preset.cjs'), displayName: 'tools', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.int-spec.ts', '<rootDir>/test/**/*.e2e-spec.ts'] };
