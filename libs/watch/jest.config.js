module.exports = {
  displayName: 'watch',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/libs/watch',
};
