// Writes each jest run's counts to $TM_TEST_REPORT_DIR, so that `npm test` can print one total
// line ("N passed, N failed") across the projects that Nx ran in separate processes.
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

class CountReporter {
  constructor(globalConfig) {
    this.dir = process.env.TM_TEST_REPORT_DIR;
    this.name = (globalConfig.rootDir || 'jest').replace(/[^A-Za-z0-9]+/g, '_');
  }

  onRunComplete(_contexts, results) {
    if (!this.dir) return;
    const counts = {
      passed: results.numPassedTests,
      failed: results.numFailedTests + results.numRuntimeErrorTestSuites,
      skipped: results.numPendingTests + results.numTodoTests,
    };
    writeFileSync(join(this.dir, `${this.name}.json`), JSON.stringify(counts));
  }
}

module.exports = CountReporter;
