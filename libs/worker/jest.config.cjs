module.exports = { ...require('../../jest.preset.cjs'), displayName: 'worker', testMatch: ['<rootDir>/src/**/*.spec.ts'] };
