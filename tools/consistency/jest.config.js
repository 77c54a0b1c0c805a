module.exports = {
  displayName: 'consistency',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/tools/consistency',
};
