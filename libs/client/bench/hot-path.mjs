// The memory hit's cost: `node libs/client/bench/hot-path.mjs` after `npx nx build client`.
// A local watch serves a snapshot of 1,000 routes; then resolveCached() runs in a loop on one core
// (target: >= 5 million lookups/s, p99 < 2 µs); then the same over routes of 4 probed endpoints,
// each lookup a selection with the health the watch pushed. Prints numbers; asserts nothing.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { TrafficManagerClient } = require(join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../../dist/libs/client/index.js'));
const ROUTES = 1000;
const N = Number(process.env.N ?? 5_000_000);

const bookmark = (snapshot) =>
  `event: bookmark\nid: ${ROUTES}\ndata: ${JSON.stringify({ revision: ROUTES, knownCurrentAt: new Date().toISOString(), ageMs: 0, snapshot })}\n\n`;
const CHECK = { type: 'http', path: '/health', intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2, expectedStatus: '200-299' };
// Tenant acme: single-URL routes; tenant multi: routes of 4 probed endpoints (2 priorities, weighted), all healthy.
const server = createServer((req, res) => {
  const tenant = req.url.startsWith('/v1/watch/multi') ? 'multi' : 'acme';
  res.writeHead(200, { 'content-type': 'text/event-stream', 'x-watch-bookmark-interval-ms': '5000' });
  for (let i = 0; i < ROUTES; i++) {
    const url = `https://s${i}.example`;
    const policy =
      tenant === 'multi'
        ? {
            endpoints: ['a', 'b', 'c', 'd'].map((id, j) => ({ id, url: `https://${id}.s${i}.example`, priority: j < 2 ? 1 : 2, weight: j + 1, state: 'enabled', healthRevision: i + 1 })),
            healthCheck: CHECK,
          }
        : {};
    const data = { tenant, service: `s${i}`, environment: 'prod', url, revision: i + 1, ...policy };
    const event = { specversion: '1.0', id: `e${i}`, source: '/traffic-manager/command-api', type: 'traffic-manager.route.upserted.v1', subject: `${tenant}/s${i}/prod`, time: new Date().toISOString(), datacontenttype: 'application/json', data };
    res.write(`event: put\ndata: ${JSON.stringify(event)}\n\n`);
  }
  res.write(bookmark(true));
  if (tenant === 'multi') {
    for (let i = 0; i < ROUTES; i++) {
      for (const id of ['a', 'b', 'c', 'd']) {
        const data = { tenant, service: `s${i}`, environment: 'prod', endpoint: id, healthRevision: i + 1, health: 'healthy', since: new Date().toISOString() };
        res.write(`event: health\ndata: ${JSON.stringify(data)}\n\n`);
      }
    }
  }
  setInterval(() => res.write(bookmark(false)), 1000).unref();
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const tm = new TrafficManagerClient({ resolverUrl: `http://127.0.0.1:${server.address().port}` });
await tm.resolve('acme/s0/prod');
await tm.resolve('multi/s0/prod');
await new Promise((resolve) => setTimeout(resolve, 500));

const ids = Array.from({ length: ROUTES }, (_, i) => ({ tenant: 'acme', service: `s${i}`, environment: 'prod' }));
const keys = ids.map((id) => `acme/${id.service}/prod`);
const multi = ids.map((id) => `multi/${id.service}/prod`);
for (const [name, refs] of [
  ['route key strings', keys],
  ['route id objects', ids],
  ['4-endpoint probed routes (selection by health)', multi],
]) {
  for (let i = 0; i < 500_000; i++) tm.resolveCached(refs[i % ROUTES]);
  let hits = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) if (tm.resolveCached(refs[i % ROUTES])?.source === 'memory') hits++;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  // Per-call latency, timer included (its own cost is part of each sample).
  const samples = new Float64Array(200_000);
  for (let i = 0; i < samples.length; i++) {
    const a = process.hrtime.bigint();
    tm.resolveCached(refs[i % ROUTES]);
    samples[i] = Number(process.hrtime.bigint() - a);
  }
  samples.sort();
  const p = (q) => samples[Math.floor(q * (samples.length - 1))];
  console.log(`${name}: ${(N / seconds / 1e6).toFixed(2)} M lookups/s (${hits} memory hits), p50 ${p(0.5)} ns, p99 ${p(0.99)} ns`);
}
await tm.close();
server.close();
