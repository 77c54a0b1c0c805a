module.exports = {
  displayName: 'route-cache',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/libs/route-cache',
};
