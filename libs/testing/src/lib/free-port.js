// @ts-check
// The one freePort: plain JavaScript (CommonJS) so that the TypeScript harness (processes.ts, with
// free-port.d.ts) and the bench's .mjs (tools/bench/processes.mjs) import the same function.
const { createSocket } = require('node:dgram');
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

/**
 * A port on 127.0.0.1 free for both UDP and TCP a moment ago (a DNS server's): the kernel's choice of
 * a UDP port, kept only when TCP can listen on it too.
 * @returns {Promise<number>}
 */
async function freeDnsPort() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const udp = createSocket('udp4');
    udp.unref();
    const port = await new Promise((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, '127.0.0.1', () => resolve(udp.address().port));
    });
    const tcpFree = await new Promise((resolve) => {
      const server = createServer();
      server.unref();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    await new Promise((resolve) => udp.close(() => resolve(undefined)));
    if (tcpFree) return port;
  }
  throw new Error('no port free for both UDP and TCP');
}

module.exports = { freePort, freeDnsPort };
