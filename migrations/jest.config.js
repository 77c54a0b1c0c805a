module.exports = {
  displayName: 'migrations',
  preset: '../jest.preset.js',
  coverageDirectory: '../coverage/migrations',
};
