// nx build health-prober: see tools/webpack/app-config.js.
module.exports = require('../../tools/webpack/app-config.js')(__dirname);
