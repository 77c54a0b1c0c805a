// nx build invalidation-worker: see tools/webpack/app-config.js. Also builds dlq.js, the command that
// lists and replays the dead-letter topic (src/dead-letters/dlq.main.ts), so that it ships in the image.
module.exports = require('../../tools/webpack/app-config.js')(__dirname, {
  additionalEntryPoints: [{ entryName: 'dlq', entryPath: './src/dead-letters/dlq.main.ts' }],
});
