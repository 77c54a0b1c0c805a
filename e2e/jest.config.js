module.exports = {
  displayName: 'e2e',
  preset: '../jest.preset.js',
  coverageDirectory: '../coverage/e2e',
};
