// Resolver: requests per second and latency on cache hits and on the database path (autocannon,
// 50 connections, 10 s each), and convergence: from a write's answer to the first resolver answer
// carrying its revision, over 500 writes. Against a running stack (npm start).
//   TM_ADMIN_TOKEN=... node tools/bench/resolver.mjs [--connections 50] [--duration 10] [--writes 500]
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { client, pool } from './lib.mjs';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');
const { values } = parseArgs({
  options: {
    api: { type: 'string', default: 'http://127.0.0.1:3000' },
    resolver: { type: 'string', default: 'http://127.0.0.1:3001' },
    connections: { type: 'string', default: '50' },
    duration: { type: 'string', default: '10' },
    writes: { type: 'string', default: '500' },
  },
});
const token = process.env.TM_ADMIN_TOKEN;
if (!token) throw new Error('set TM_ADMIN_TOKEN to the admin token npm start printed');
const put = client(values.api, token);
const tenant = `bench-resolve-${Date.now().toString(36)}`;
const routes = Array.from({ length: 100 }, (_, i) => `${tenant}/svc-${i % 10}/env-${Math.floor(i / 10)}`);
await pool(routes.length, 10, (i) => put(`/v1/routes/${routes[i]}`, `https://r${i}.bench.internal/`));
const headers = { authorization: `Bearer ${token}` };
const get = (route, query = '') => fetch(`${values.resolver}/v1/resolve/${route}${query}`, { headers });
for (const route of routes) await get(route); // warm the cache

async function load(query) {
  let n = 0;
  const result = await autocannon({
    url: values.resolver,
    connections: Number(values.connections),
    duration: Number(values.duration),
    headers,
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/v1/resolve/${routes[n++ % routes.length]}${query}` }) }],
  });
  return {
    requestsPerSecond: Math.round(result.requests.average),
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, p999: result.latency.p99_9 ?? result.latency.p999 },
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

const hits = await load('');
const database = await load('?consistency=strong');

// Convergence: 5 writers, each writing then polling the resolver every millisecond.
const deltas = [];
await pool(Number(values.writes), 5, async (i) => {
  const route = routes[i % 10];
  const revision = await put(`/v1/routes/${route}`, `https://c${i}.bench.internal/`);
  const answered = performance.now();
  for (;;) {
    const res = await get(route);
    if (Number(res.headers.get('x-route-revision')) >= revision) break;
    await new Promise((r) => setTimeout(r, 1));
  }
  deltas.push(performance.now() - answered);
});
deltas.sort((a, b) => a - b);
const at = (q) => Number(deltas[Math.min(deltas.length - 1, Math.floor(q * deltas.length))].toFixed(2));
console.log(
  JSON.stringify(
    { connections: Number(values.connections), durationSeconds: Number(values.duration), hits, databasePath: database, convergenceMs: { writes: deltas.length, p50: at(0.5), p99: at(0.99), max: at(1) } },
    null,
    2,
  ),
);
