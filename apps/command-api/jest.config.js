module.exports = {
  displayName: 'command-api',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/apps/command-api',
};
