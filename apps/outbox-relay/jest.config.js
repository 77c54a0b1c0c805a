module.exports = {
  displayName: 'outbox-relay',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/apps/outbox-relay',
};
