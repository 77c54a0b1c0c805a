module.exports = {
  displayName: 'limits',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/libs/limits',
};
