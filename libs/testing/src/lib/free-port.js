// @ts-check
// The one freePort: plain JavaScript (CommonJS) so that the TypeScript harness (processes.ts, with
// free-port.d.ts) and the bench's .mjs (tools/bench/processes.mjs) import the same function.
const { createServer } = require('node:net');

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice).
 * @returns {Promise<number>}
 */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

module.exports = { freePort };
