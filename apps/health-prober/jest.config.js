module.exports = {
  displayName: 'health-prober',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/apps/health-prober',
};
