const { join } = require('path');
const nxPreset = require('@nx/jest/preset').default;

/**
 * Shared by every project's jest config. Three tiers, told apart by name: unit tests (*.spec.ts,
 * fakes allowed), integration tests (*.int-spec.ts, real PostgreSQL, Redis and Kafka) and
 * end-to-end tests (*.e2e-spec.ts, the apps as processes).
 */
module.exports = {
  ...nxPreset,
  testEnvironment: 'node',
  testMatch: ['**/?(*.)+(spec|int-spec|e2e-spec).ts'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  transform: {
    // Type errors are the typecheck step's job (tsc -p tsconfig.json); jest only transpiles.
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.spec.json', diagnostics: false }],
    // content-disposition 3 (under @fastify/static, which serves /docs) ships ESM only: Node
    // requires it natively, jest's module system does not, so jest transpiles it.
    '/node_modules/content-disposition/.+\\.js$': [
      'ts-jest',
      { tsconfig: join(__dirname, 'tools/jest/tsconfig.esm-deps.json'), diagnostics: false },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!content-disposition/)'],
  globalSetup: join(__dirname, 'libs/testing/src/jest/global-setup.ts'),
  globalTeardown: join(__dirname, 'libs/testing/src/jest/global-teardown.ts'),
  testTimeout: 60_000,
  // Apps get their first tests with their features; an empty project is not a failure.
  passWithNoTests: true,
  // `npm test` adds up the counts of every project's run (tools/jest/count-reporter.js).
  reporters: ['default', join(__dirname, 'tools/jest/count-reporter.js')],
};
