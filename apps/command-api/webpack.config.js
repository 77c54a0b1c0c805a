// nx build <project>: see tools/webpack/app-config.js
// The web console's bundle (nx build console, a task this build depends on: project.json's
// dependsOn; not a project dependency, since the console imports the SDK whose tests start the command API) goes into dist/apps/command-api/console, where the app serves it at /console/.
module.exports = require('../../tools/webpack/app-config.js')(__dirname, {
  assets: [{ input: 'dist/apps/console', glob: '**/*', output: 'console' }],
});
