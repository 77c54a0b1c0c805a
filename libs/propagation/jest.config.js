module.exports = {
  displayName: 'propagation',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/libs/propagation',
};
