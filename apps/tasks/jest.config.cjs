module.exports = { ...require('../../jest.preset.cjs'), displayName: 'tasks', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.int-spec.ts'] };
