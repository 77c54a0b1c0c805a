// The SDK's part of `npm run bench`, in a process of its own (one core, nothing else on its event
// loop): a TrafficManagerClient of the built package (dist/libs/client) against the real resolver.
//   1. in-process lookups: resolveCached() over the tenant's routes, once its watch is synced;
//   2. convergence: PUTs at a steady rate through the command API, each timed from its answer until
//      the client's memory answers its revision.
// Prints one JSON line with the results.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const { TrafficManagerClient } = require(join(import.meta.dirname, '..', '..', 'dist', 'libs', 'client', 'index.js'));
const { values } = parseArgs({
  options: {
    resolver: { type: 'string' },
    api: { type: 'string' },
    token: { type: 'string' },
    routes: { type: 'string' },
    lookups: { type: 'string', default: '5000000' },
    writes: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '100' },
  },
});
const routes = (values.routes ?? '').split(',');
const tm = new TrafficManagerClient({ resolverUrl: values.resolver, commandUrl: values.api, apiKey: values.token, timeoutMs: 10_000 });
tm.on('error', () => undefined);

// The watch is synced once a lookup is answered from memory.
const deadline = Date.now() + 60_000;
while ((await tm.resolve(routes[0]))?.source !== 'memory') {
  if (Date.now() > deadline) throw new Error('the watch did not sync within 60 s');
  await new Promise((r) => setTimeout(r, 50));
}
for (const r of routes) await tm.resolve(r);

// 1. Lookups.
const n = Number(values.lookups);
for (let i = 0; i < 500_000; i++) tm.resolveCached(routes[i % routes.length]);
let hits = 0;
const t0 = process.hrtime.bigint();
for (let i = 0; i < n; i++) if (tm.resolveCached(routes[i % routes.length])?.source === 'memory') hits++;
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const samples = new Float64Array(200_000);
for (let i = 0; i < samples.length; i++) {
  const a = process.hrtime.bigint();
  tm.resolveCached(routes[i % routes.length]);
  samples[i] = Number(process.hrtime.bigint() - a);
}
samples.sort();
/** @param {number} q */
const at = (q) => samples[Math.floor(q * (samples.length - 1))];
const lookups = { perSecond: Math.round(n / seconds), memoryHits: hits, lookups: n, p50Ns: at(0.5), p99Ns: at(0.99), p999Ns: at(0.999) };

// 2. Convergence into memory.
const writes = Number(values.writes);
const rate = Number(values.rate);
/** @type {number[]} */
const deltas = [];
let failed = 0;
let timedOut = 0;
/** @param {number} i */
const one = async (i) => {
  const route = routes[i % routes.length];
  let revision;
  try {
    revision = (await tm.put(route, { url: `https://sdk${i}-${Date.now().toString(36)}.bench.internal/` })).revision;
  } catch {
    failed++;
    return;
  }
  const answered = performance.now();
  for (;;) {
    const r = tm.resolveCached(route);
    if (r?.source === 'memory' && r.revision >= revision) return void deltas.push(performance.now() - answered);
    if (performance.now() - answered > 10_000) return void timedOut++;
    await new Promise((resolve) => setImmediate(resolve));
  }
};
const started = performance.now();
const running = [];
for (let i = 0; i < writes; i++) {
  const wait = started + (i * 1000) / rate - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  running.push(one(i));
}
await Promise.all(running);
deltas.sort((a, b) => a - b);
/** @param {number} q */
const pct = (q) => (deltas.length ? Math.round(deltas[Math.min(deltas.length - 1, Math.ceil(q * deltas.length) - 1)] * 1000) / 1000 : null);
const convergence = { writes, ratePerSecond: rate, converged: deltas.length, failedWrites: failed, timedOut, ms: { p50: pct(0.5), p90: pct(0.9), p99: pct(0.99), p999: pct(0.999), max: pct(1) } };
await tm.close();
process.stdout.write(`${JSON.stringify({ lookups, convergence })}\n`);
process.exit(0);
