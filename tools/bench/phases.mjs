// The measurements of `npm run bench` (tools/bench/run.mjs): closed-loop load with autocannon,
// timed to the microsecond by the bench itself (the writes phase's PUTs; the read phases that
// compare servers use wrk, wrk.mjs), and convergence over writes at a steady rate.
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import { histogramOf, quantile } from './lib.mjs';
import { sleep } from './processes.mjs';
import { summarizeLatencies } from './report.cjs';

/** @typedef {import('./report.cjs').Json} Json */

/**
 * What the bench uses of an autocannon run (the package has no types of its own): it stops, reports
 * each response and resolves with the run's totals.
 * @typedef {PromiseLike<Json> & { stop(): void, on(event: 'response', listener: OnResponse): void }} Cannon
 */
/** @typedef {(client: unknown, status: number, bytes: number, ms: number) => void} OnResponse */

const requireCjs = createRequire(import.meta.url);
const autocannon = /** @type {(options: Json) => Cannon} */ (requireCjs('autocannon'));

/**
 * The autocannon run in progress, so that Ctrl-C can stop it.
 * @type {Cannon | undefined}
 */
let current;
export function stopLoad() {
  current?.stop();
}

/**
 * @param {Json} options
 * @param {OnResponse} [onResponse]
 */
function cannon(options, onResponse) {
  const instance = autocannon({ ...options, renderProgressBar: false, renderResultsTable: false, renderLatencyTable: false });
  current = instance;
  if (onResponse) instance.on('response', onResponse);
  return Promise.resolve(instance).finally(() => {
    if (current === instance) current = undefined;
  });
}

/**
 * Closed-loop load: `connections` clients, each sending its next request when the last one is
 * answered, for `duration` seconds after `warmup` seconds that are not counted. `path(i)` names the
 * i-th request's path; `body(i)` its body. Latency of every 2xx answer is kept (autocannon's own
 * histogram rounds to whole milliseconds), so percentiles are exact.
 * @param {{ url: string, connections: number, duration: number, warmup: number, headers: Record<string, string>, method?: string, path: (i: number) => string, body?: (i: number) => string }} options
 */
export async function load({ url, connections, duration, warmup, headers, method = 'GET', path, body }) {
  let n = 0;
  const requests = [
    {
      method,
      setupRequest: (/** @type {Json} */ req) => {
        const i = n++;
        return body ? { ...req, path: path(i), body: body(i) } : { ...req, path: path(i) };
      },
    },
  ];
  const options = { url, connections, headers, requests };
  if (warmup > 0) await cannon({ ...options, duration: warmup });
  /** @type {number[]} */
  const latencies = [];
  /** @type {Record<number, number>} */
  const statuses = {};
  const result = await cannon({ ...options, duration }, (_client, status, _bytes, ms) => {
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const ok = result['2xx'];
  return {
    connections,
    durationSeconds: result.duration,
    requests: result.requests.total,
    ok,
    requestsPerSecond: Math.round(ok / result.duration),
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statuses,
    ...summarizeLatencies(latencies),
  };
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

/**
 * One HTTP request on a keep-alive connection: { status, headers, body }.
 * @param {string} url
 * @param {{ method?: string, headers?: Record<string, string>, body?: string }} [options]
 * @returns {Promise<{ status: number, headers: import('node:http').IncomingHttpHeaders, body: string }>}
 */
export function call(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent, timeout: 10_000 }, (res) => {
      /** @type {Buffer[]} */
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      // A client's response always has a status code (the type allows none for a server's request).
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The `detail` of a problem+json body, else the body's start.
 * @param {string} body
 */
function problemDetail(body) {
  try {
    const detail = JSON.parse(body).detail;
    if (typeof detail === 'string') return detail;
  } catch {
    // not JSON
  }
  return body.slice(0, 200);
}

/**
 * PUT a route's URL through the command API; its revision.
 * @param {string} api
 * @param {string} token
 * @param {string} route
 * @param {string} url
 */
export async function putRoute(api, token, route, url) {
  const res = await call(`${api}/v1/routes/${route}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url }),
  });
  if (res.status >= 300) throw new Error(`PUT /v1/routes/${route}: ${res.status} ${problemDetail(res.body)}`);
  return Number(res.headers['x-route-revision']);
}

/**
 * A stored key (`POST /v1/api-keys` with the admin token), bound to `tenant` (or to none) with `scopes`: { id, key }.
 * @param {string} api
 * @param {string} token
 * @param {{ name: string, tenant?: string, scopes: string[] }} options
 * @returns {Promise<{ id: string, key: string }>}
 */
export async function createKey(api, token, { name, tenant, scopes }) {
  const res = await call(`${api}/v1/api-keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, tenant, scopes }),
  });
  if (res.status !== 201) throw new Error(`POST /v1/api-keys for ${tenant ?? 'every tenant'}: ${res.status} ${problemDetail(res.body)}`);
  const { id, key } = JSON.parse(res.body);
  return { id, key };
}

/**
 * Deletes (revokes) a stored key; a failure is ignored (cleanup).
 * @param {string} api
 * @param {string} token
 * @param {string} id
 */
export async function deleteKey(api, token, id) {
  await call(`${api}/v1/api-keys/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
}

/**
 * Convergence: `writes` PUTs started at a steady `rate` per second (open loop: each starts on its
 * schedule, whatever the others do), each followed by GETs of its route from the resolver, every
 * `pollMs` or 5% of the time waited so far if longer, until an answer carries its revision (or a
 * later one). Measured: from the PUT's answer
 * to that GET's answer. Writes cycle through `routes`. A write that fails is counted, not retried.
 * @param {{ api: string, resolver: string, token: string, routes: string[], writes: number, rate: number, pollMs: number, timeoutMs: number, shouldStop: () => boolean }} options
 */
export async function convergence({ api, resolver, token, routes, writes, rate, pollMs, timeoutMs, shouldStop }) {
  const auth = { authorization: `Bearer ${token}` };
  /** @type {number[]} */
  const deltas = [];
  let timedOut = 0;
  let lateStarts = 0;
  /** @type {string[]} */
  const failures = [];
  const interval = 1000 / rate;
  /** @param {number} i */
  const one = async (i) => {
    const route = routes[i % routes.length];
    let revision;
    try {
      revision = await putRoute(api, token, route, `https://c${i}-${Date.now().toString(36)}.bench.internal/`);
    } catch (e) {
      return void failures.push(e instanceof Error ? e.message : String(e));
    }
    const answered = performance.now();
    for (;;) {
      const res = await call(`${resolver}/v1/resolve/${route}`, { headers: auth });
      const now = performance.now();
      if (res.status === 200 && Number(res.headers['x-route-revision']) >= revision) return void deltas.push(now - answered);
      if (now - answered > timeoutMs || shouldStop()) return void (timedOut += 1);
      // Within 5% of the time waited so far: fine where the goal is, and a slow convergence
      // does not flood the resolver (and the machine it shares) with polls.
      await sleep(Math.max(pollMs, (now - answered) / 20));
    }
  };
  const started = performance.now();
  /** @type {Promise<void>[]} */
  const running = [];
  for (let i = 0; i < writes && !shouldStop(); i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    else if (wait < -interval) lateStarts += 1;
    running.push(one(i));
  }
  const lastStart = performance.now();
  await Promise.all(running);
  deltas.sort((a, b) => a - b);
  const summary = summarizeLatencies(deltas);
  return {
    writes: running.length,
    ratePerSecond: rate,
    achievedRatePerSecond: Math.round((Math.max(1, running.length - 1) / Math.max(1e-3, lastStart - started)) * 1000),
    lateStarts,
    pollMs,
    timeoutMs,
    converged: deltas.length,
    timedOut,
    failedWrites: failures.length,
    firstFailure: failures[0],
    ms: summary.latencyMs,
    sortedMs: deltas.map((d) => Math.round(d * 1000) / 1000),
  };
}

/**
 * Quantiles (ms, interpolated in the buckets) and count of a latency histogram between two scrapes
 * of an app's /metrics.
 * @param {string} beforeText
 * @param {string} afterText
 * @param {string} name
 */
function histogramLatency(beforeText, afterText, name) {
  const before = histogramOf(beforeText, name);
  const after = histogramOf(afterText, name);
  if (!after.length) return undefined;
  const events = after[after.length - 1][1] - (before[before.length - 1]?.[1] ?? 0);
  /** @param {number} q */
  const ms = (q) => Math.round(quantile(before, after, q) * 1e6) / 1e3;
  return { p50: ms(0.5), p99: ms(0.99), events };
}

/** Stored routes:read keys the read phases present: enough that each stays under RATE_LIMIT_PER_KEY's default (1,000/s) up to 100,000 requests a second. */
export const READ_KEYS = 100;

/**
 * Creates READ_KEYS stored `routes:read` keys, bound to no tenant: { id, key } each.
 * @param {string} api
 * @param {string} token
 * @param {string} run
 */
export async function createReadKeys(api, token, run) {
  /** @type {{ id: string, key: string }[]} */
  const keys = [];
  for (let i = 0; i < READ_KEYS; i++) keys.push(await createKey(api, token, { name: `bench-${run}-read-${i}`, scopes: ['routes:read'] }));
  return keys;
}

/**
 * Relay publish latency (a write's commit to Kafka's acknowledgement) between two scrapes of its /metrics.
 * @param {string} beforeText
 * @param {string} afterText
 */
export function publishLatency(beforeText, afterText) {
  return histogramLatency(beforeText, afterText, 'tm_relay_publish_latency_seconds');
}

/**
 * The worker's apply lag (a write's commit to its event applied in Redis) between two scrapes of its
 * /metrics: with the relay's publish latency, it splits convergence into its hops (to Kafka, then
 * through Kafka and the worker; the resolver's read of Redis is the rest).
 * @param {string} beforeText
 * @param {string} afterText
 */
export function applyLag(beforeText, afterText) {
  return histogramLatency(beforeText, afterText, 'tm_worker_apply_lag_seconds');
}

/**
 * The resolver's feed delay (a write's commit to the resolver's change feed reading it, on the
 * database's clock) between two scrapes of its /metrics: the hop a resolver answer waits for, since
 * the resolver answers a write as soon as its own feed has read it.
 * @param {string} beforeText
 * @param {string} afterText
 */
export function feedDelay(beforeText, afterText) {
  return histogramLatency(beforeText, afterText, 'tm_resolver_watch_feed_delay_seconds');
}
