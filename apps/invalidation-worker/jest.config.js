module.exports = {
  displayName: 'invalidation-worker',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/apps/invalidation-worker',
};
