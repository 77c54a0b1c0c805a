// nx build consistency: the checker as one file, dist/tools/consistency/main.js (see tools/webpack/app-config.js)
module.exports = require('../webpack/app-config.js')(__dirname);
