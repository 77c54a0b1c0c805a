// Checks the README and docs/: every relative link resolves, and docs/configuration.md matches the
// apps' configuration classes. No stack, no services.
module.exports = {
  displayName: 'docs-check',
  preset: '../../jest.preset.js',
  // Nothing to provision: these tests touch no database, Redis or Kafka.
  globalSetup: undefined,
  globalTeardown: undefined,
  coverageDirectory: '../../coverage/tools/docs-check',
};
