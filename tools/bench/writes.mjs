// Write throughput: PUTs per second through HTTP with N concurrent clients, against a running
// command API (npm start). Every PUT sets a new URL, so every one is an effective write.
//   TM_ADMIN_TOKEN=... node tools/bench/writes.mjs [--url http://127.0.0.1:3000] [--connections 20] [--duration 10]
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:3000' },
    connections: { type: 'string', default: '20' },
    duration: { type: 'string', default: '10' },
    routes: { type: 'string', default: '200' },
  },
});
const token = process.env.TM_ADMIN_TOKEN;
if (!token) {
  console.error('bench: set TM_ADMIN_TOKEN to the admin token npm start printed');
  process.exit(1);
}
const routes = Number(values.routes);
const run = Date.now().toString(36);
let n = 0;
const result = await autocannon({
  url: values.url,
  connections: Number(values.connections),
  duration: Number(values.duration),
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  requests: [
    {
      method: 'PUT',
      setupRequest: (req) => {
        n += 1;
        return { ...req, path: `/v1/routes/bench-${run}/svc-${n % 10}/env-${n % (routes / 10)}`, body: JSON.stringify({ url: `https://w${n}.bench.internal/` }) };
      },
    },
  ],
});
const ok = result['2xx'];
const summary = {
  connections: result.connections,
  durationSeconds: result.duration,
  requests: result.requests.total,
  ok,
  non2xx: result.non2xx,
  errors: result.errors,
  putsPerSecond: Math.round(ok / result.duration),
  latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
};
console.log(JSON.stringify(summary, null, 2));
