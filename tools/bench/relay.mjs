// Relay: publish latency (commit to Kafka acknowledgement) and drain throughput, against a running
// stack (npm start). Latency: writes at a steady pace; quantiles from the relay's histogram.
// Throughput: the relay is frozen (SIGSTOP) while writes pile up, then thawed; rows per second
// from the published_at of the rows it drained.
//   TM_ADMIN_TOKEN=... node tools/bench/relay.mjs [--writes 2000] [--backlog 10000]
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { client, histogram, pool, quantile } from './lib.mjs';

const require = createRequire(import.meta.url);
const { Client } = require('pg');
const { values } = parseArgs({
  options: {
    api: { type: 'string', default: 'http://127.0.0.1:3000' },
    relay: { type: 'string', default: 'http://127.0.0.1:3010' },
    database: { type: 'string', default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/traffic_manager' },
    writes: { type: 'string', default: '2000' },
    backlog: { type: 'string', default: '10000' },
  },
});
const token = process.env.TM_ADMIN_TOKEN;
if (!token) throw new Error('set TM_ADMIN_TOKEN to the admin token npm start printed');
const put = client(values.api, token);
const run = Date.now().toString(36);
const db = new Client({ connectionString: values.database });
await db.connect();
const waitDrained = async () => {
  for (;;) {
    const { rows } = await db.query('SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL');
    if (rows[0].n === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
};

// Latency: 4 writers, each pausing 20 ms between writes (about 150 writes per second).
const metrics = `${values.relay}/metrics`;
const before = await histogram(metrics, 'tm_relay_publish_latency_seconds');
await pool(Number(values.writes), 4, async (i) => {
  await put(`/v1/routes/bench-relay-${run}/svc-${i % 10}/env-${i % 20}`, `https://l${i}.bench.internal/`);
  await new Promise((r) => setTimeout(r, 20));
});
await waitDrained();
const after = await histogram(metrics, 'tm_relay_publish_latency_seconds');
const latency = { p50: quantile(before, after, 0.5) * 1000, p99: quantile(before, after, 0.99) * 1000 };

// Throughput: freeze the relay, pile up a backlog through the API, thaw it, time the drain.
const pid = execFileSync('pgrep', ['-f', 'dist/apps/outbox-relay/main.js']).toString().trim().split('\n')[0];
const { rows: start } = await db.query('SELECT revision::int FROM store_revision');
process.kill(Number(pid), 'SIGSTOP');
try {
  await pool(Number(values.backlog), 20, (i) => put(`/v1/routes/bench-relay-${run}/svc-${i % 10}/env-${i % 20}`, `https://t${i}.bench.internal/`));
} finally {
  process.kill(Number(pid), 'SIGCONT');
}
await waitDrained();
const { rows } = await db.query(
  `SELECT count(*)::int AS n, extract(epoch FROM max(published_at) - min(published_at)) AS seconds
     FROM outbox WHERE revision > $1`,
  [start[0].revision],
);
await db.end();
const drained = rows[0];
console.log(
  JSON.stringify(
    {
      publishLatencyMs: { p50: Number(latency.p50.toFixed(2)), p99: Number(latency.p99.toFixed(2)), writes: Number(values.writes) },
      drain: { rows: drained.n, seconds: Number(Number(drained.seconds).toFixed(3)), rowsPerSecond: Math.round(drained.n / Math.max(0.001, Number(drained.seconds))) },
    },
    null,
    2,
  ),
);
