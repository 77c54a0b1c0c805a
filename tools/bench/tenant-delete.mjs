// Tenant deletion under load: the latency of other tenants' PUTs while a large tenant is deleted,
// against a running command API (npm start, or dist/apps/command-api/main.js alone: the relay is
// not needed) and its database.
//   TM_ADMIN_TOKEN=... node tools/bench/tenant-delete.mjs [--routes 10000] [--writers 8] [--baseline 3]
// The doomed tenant's routes are inserted through SQL (100 services; fast, no events); the writers
// PUT a new URL to routes of tenants of their own in a closed loop, first for --baseline seconds
// without a deletion, then while DELETE /v1/tenants/{doomed} runs. A PUT counts as "during" when
// its time overlaps the deletion's. Reported, never asserted.
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { call, putRoute } from './phases.mjs';

const require = createRequire(import.meta.url);
const { Client } = require('pg');
const { summarizeLatencies } = require('./report.cjs');

const { values } = parseArgs({
  options: {
    api: { type: 'string', default: `http://127.0.0.1:${process.env.COMMAND_API_PORT ?? 3000}` },
    database: { type: 'string', default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/traffic_manager' },
    routes: { type: 'string', default: '10000' },
    writers: { type: 'string', default: '8' },
    baseline: { type: 'string', default: '3' },
    label: { type: 'string', default: '' },
  },
});
const token = process.env.TM_ADMIN_TOKEN;
if (!token) throw new Error('set TM_ADMIN_TOKEN to the admin token of the command API');
const routes = Number(values.routes);
const writers = Number(values.writers);
const services = Math.min(100, routes);
if (!Number.isInteger(routes) || routes < 1 || routes % services !== 0) throw new Error('--routes must be a positive multiple of 100 (or under 100)');
const run = Date.now().toString(36);
const doomed = `bench-td-${run}`;
const auth = { authorization: `Bearer ${token}` };

const db = new Client({ connectionString: values.database });
await db.connect();
const created = await call(`${values.api}/v1/tenants`, {
  method: 'POST',
  headers: { ...auth, 'content-type': 'application/json' },
  body: JSON.stringify({ slug: doomed }),
});
if (created.status !== 201) throw new Error(`POST /v1/tenants: ${created.status} ${created.body}`);
await db.query(
  `WITH s AS (INSERT INTO services (tenant_id, name) SELECT id, 'svc-' || g FROM tenants, generate_series(1, $2::int) g WHERE slug = $1 RETURNING id, name)
   INSERT INTO endpoints (service_id, environment, url, revision)
   SELECT s.id, 'env-' || g, 'https://' || s.name || '.bench.internal/' || g, 1 FROM s, generate_series(1, $3::int) g`,
  [doomed, services, routes / services],
);
await db.query('VACUUM ANALYZE endpoints');

// Each writer PUTs its own tenant's 20 routes in turn (created first, so that every measured PUT is an update).
/**
 * @param {number} w
 * @param {number} i
 */
const writerRoute = (w, i) => `${doomed}-w${w}/web/env-${i % 20}`;
for (let w = 0; w < writers; w++) for (let i = 0; i < 20; i++) await putRoute(values.api, token, writerRoute(w, i), `https://seed.bench.internal/${i}`);

/** @type {Array<[number, number]>} */
const samples = []; // [start, end] in ms of performance.now()
let failures = 0;
let stop = false;
const loops = Array.from({ length: writers }, async (_, w) => {
  for (let i = 0; !stop; i++) {
    const start = performance.now();
    try {
      await putRoute(values.api, token, writerRoute(w, i), `https://w${w}-${i}.bench.internal/`);
      samples.push([start, performance.now()]);
    } catch {
      failures += 1;
    }
  }
});

const load1 = loadavg()[0];
const baselineStart = performance.now();
await new Promise((r) => setTimeout(r, Number(values.baseline) * 1000));
const deleteStart = performance.now();
// fetch, not call: the deletion may take longer than call's 10 s deadline.
const deleted = await fetch(`${values.api}/v1/tenants/${doomed}`, { method: 'DELETE', headers: auth });
const deleteEnd = performance.now();
stop = true;
await Promise.all(loops);
if (deleted.status !== 204) throw new Error(`DELETE /v1/tenants/${doomed}: ${deleted.status} ${await deleted.text()}`);

const { rows } = await db.query(
  "SELECT count(*)::int AS events, min(revision)::bigint AS first, max(revision)::bigint AS last FROM outbox WHERE route_key LIKE $1 || '/%' AND event_type = 'traffic-manager.route.deleted.v1'",
  [doomed],
);
// Leave the database as it was: the writers' tenants go too.
for (let w = 0; w < writers; w++) await call(`${values.api}/v1/tenants/${doomed}-w${w}`, { method: 'DELETE', headers: auth });
await db.end();

/** @param {Array<[number, number]>} list */
const summary = (list) => {
  const { samples: n, latencyMs } = summarizeLatencies(list.map(([s, e]) => e - s));
  return { puts: n, p50: latencyMs.p50, p99: latencyMs.p99, max: latencyMs.max };
};
const before = samples.filter(([s, e]) => s >= baselineStart && e <= deleteStart);
const during = samples.filter(([s, e]) => e > deleteStart && s < deleteEnd);
console.log(
  JSON.stringify(
    {
      label: values.label || undefined,
      routes,
      writers,
      deletion: { ms: Math.round((deleteEnd - deleteStart) * 10) / 10, events: rows[0].events, revisions: `${rows[0].first}..${rows[0].last}` },
      otherPutsMs: { before: summary(before), during: summary(during) },
      failedPuts: failures,
      loadAverage1m: { before: Math.round(load1 * 100) / 100, after: Math.round(loadavg()[0] * 100) / 100, cores: cpus().length },
    },
    null,
    2,
  ),
);
