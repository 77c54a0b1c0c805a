// Unit tests of the bench's pure parts (report.cjs): no stack, no services.
module.exports = {
  displayName: 'bench',
  preset: '../../jest.preset.js',
  // What the tests load is CommonJS (report.cjs): jest here runs CommonJS, not ESM (.mjs).
  moduleFileExtensions: ['ts', 'cjs', 'js', 'json'],
  // Nothing to provision: these tests touch no database, Redis or Kafka.
  globalSetup: undefined,
  globalTeardown: undefined,
  coverageDirectory: '../../coverage/tools/bench',
};
