module.exports = {
  displayName: 'console',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/apps/console',
  // Unit tests of the console's pure modules (diff.ts, ...): node, no DOM; the pages are tested end to end (e2e/src/console).
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
};
