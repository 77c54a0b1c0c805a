// nx build <project>: see tools/webpack/app-config.js
// The web console's bundle (nx build console, a dependency of this build: project.json's
// implicitDependencies) goes into dist/apps/command-api/console, where the app serves it at /console/.
module.exports = require('../../tools/webpack/app-config.js')(__dirname, {
  assets: [{ input: 'dist/apps/console', glob: '**/*', output: 'console' }],
});
