// The traffic-policy measurements of `npm run bench` (tools/bench/run.mjs):
//   - policy hits: the resolver's cache hits on routes of 4 probed endpoints (each answer a
//     selection with the health read in the same Redis round trip) against single-URL routes;
//   - failover: a probed route's primary stops answering; the time until every resolver answer and
//     the SDK's memory answer pick the backup, over trials.
// The endpoints are HTTP servers of the bench's own, probed by the stack's two health probers.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pool } from './lib.mjs';
import { call } from './phases.mjs';
import { sleep, waitFor } from './processes.mjs';
import { summarizeLatencies } from './report.cjs';

/** @typedef {import('./lib.mjs').Say} Say */
/** @typedef {Parameters<typeof call>[1]} CallOptions */
/** @typedef {Awaited<ReturnType<typeof call>>} Answer An HTTP answer: { status, headers, body }. */
/** @typedef {{ path: string, intervalSeconds: number, timeoutSeconds: number, healthyThreshold: number, unhealthyThreshold: number }} HealthCheck */
/** @typedef {{ id: string, url: string, priority?: number, weight?: number }} Endpoint */
/** @typedef {{ endpoints: Endpoint[], healthCheck: HealthCheck }} Policy A route's body with probed endpoints. */
/** @typedef {{ id: string, health: string }} EndpointHealth An endpoint's health as the resolver answers it. */
/** @typedef {{ url: string, endpoints: EndpointHealth[] }} Resolution What the bench reads of a resolve's JSON body. */
/** @typedef {{ endpoints: EndpointHealth[] }} RouteHealth What the bench reads of a route's health (GET /v1/routes/{route}/health). */
/** @typedef {import('./wrk.mjs').WrkResult} LoadResult */
/**
 * How the bench measures reads: closed-loop load on `url` cycling `paths`, named `phase` (for the
 * quiet-machine check), with the run's generator and settings.
 * @typedef {(phase: string, url: string, paths: string[]) => Promise<LoadResult>} Read
 */

/**
 * An endpoint the bench starts and stops: 200 to every request while up (`onRequest` is told of each
 * first), connections refused while down. It listens on `host`, a loopback address (127.0.0.1 unless
 * told: the dns phase gives a primary and its backup addresses of their own, as DNS answers carry no port).
 */
export class EndpointServer {
  /**
   * @param {(req: import('node:http').IncomingMessage) => void} [onRequest]
   * @param {string} [host]
   */
  constructor(onRequest = () => undefined, host = '127.0.0.1') {
    this.host = host;
    this.port = 0;
    /** @type {import('node:http').Server | undefined} */
    this.server = undefined;
    this.onRequest = onRequest;
  }

  async start() {
    const server = createServer((req, res) => {
      this.onRequest(req);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => resolve(undefined));
    });
    this.port = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
    this.server = server;
    return this;
  }

  /** Stops listening and cuts every open connection: the next probe is refused. */
  async stop() {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(() => resolve(undefined)));
  }

  get url() {
    return `http://${this.host}:${this.port}`;
  }
}

/**
 * `call`, once more when a kept-alive connection turned out closed (the server ends idle ones: the
 * request never reached it, so a PUT of the same body and a GET may be sent again).
 * @param {string} url
 * @param {CallOptions} [options]
 * @returns {Promise<Answer>}
 */
export async function send(url, options) {
  try {
    return await call(url, options);
  } catch (err) {
    const e = /** @type {NodeJS.ErrnoException} */ (err);
    if (e.code !== 'ECONNRESET' && !/socket hang up/.test(e.message)) throw e;
    return call(url, options);
  }
}

/**
 * PUT a route with probed endpoints; its revision.
 * @param {string} api
 * @param {string} token
 * @param {string} route
 * @param {Policy} body
 */
export async function putPolicy(api, token, route, body) {
  const res = await send(`${api}/v1/routes/${route}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200 && res.status !== 201) throw new Error(`PUT /v1/routes/${route}: ${res.status} ${res.body}`);
  return Number(res.headers['x-route-revision']);
}

/**
 * The body of a failover route: a primary and a backup (priority 2) probed every `intervalSeconds`
 * with a 1 s timeout and thresholds `threshold` (the failover, noisy-neighbour and dns phases').
 * @param {{ primary: EndpointServer, backup: EndpointServer, intervalSeconds: number, threshold: number }} options
 * @returns {Policy}
 */
export function failoverPolicy({ primary, backup, intervalSeconds, threshold }) {
  return {
    endpoints: [
      { id: 'primary', url: primary.url },
      { id: 'backup', url: backup.url, priority: 2 },
    ],
    healthCheck: { path: '/', intervalSeconds, timeoutSeconds: 1, healthyThreshold: threshold, unhealthyThreshold: threshold },
  };
}

/**
 * @param {string} resolver
 * @param {string} token
 * @param {string} route
 */
async function resolveAnswer(resolver, token, route) {
  const res = await send(`${resolver}/v1/resolve/${route}`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`GET /v1/resolve/${route}: ${res.status} ${res.body}`);
  return { body: /** @type {Resolution} */ (JSON.parse(res.body)), cache: res.headers['x-cache'] };
}

/** TENANT_MAX_PROBED_ENDPOINTS' default over the 4 endpoints of a policy route: its routes per tenant. */
const POLICY_ROUTES_PER_TENANT = Math.floor(256 / 4);

/**
 * The tenant of the `i`-th policy route: `<tenant>-<n>`, 64 routes each.
 * @param {string} tenant
 * @param {number} i
 */
function policyTenant(tenant, i) {
  return `${tenant}-${Math.floor(i / POLICY_ROUTES_PER_TENANT)}`;
}

/**
 * The tenants policyHits writes for `routes` routes (to delete them after).
 * @param {string} tenant
 * @param {number} routes
 */
export function policyTenants(tenant, routes) {
  return Array.from({ length: Math.ceil(routes / POLICY_ROUTES_PER_TENANT) }, (_, n) => policyTenant(tenant, n * POLICY_ROUTES_PER_TENANT));
}

/**
 * Hits on single-URL routes (`routes`, already written and cached) and on as many routes of 4
 * probed endpoints (two priorities, weights 3:1; 64 routes a tenant, within its probed endpoints' quota), every endpoint healthy, in alternating rounds
 * (three of each: single, policy, single, ...) so that a drift of the machine weighs on both alike.
 * @param {{ api: string, resolver: string, token: string, tenant: string, routes: string[], read: Read, durationSeconds: number, connections: number, shouldStop: () => boolean, say: Say }} options
 */
export async function policyHits({ api, resolver, token, tenant, routes, read, durationSeconds, connections, shouldStop, say }) {
  const servers = await Promise.all(Array.from({ length: 4 }, () => new EndpointServer().start()));
  try {
    // A tenant may have TENANT_MAX_PROBED_ENDPOINTS (256) probed endpoints: 64 routes of 4 each.
    const policyRoutes = routes.map((_, i) => `${policyTenant(tenant, i)}/svc-${i % 10}/env-${Math.floor(i / 10)}`);
    const body = {
      endpoints: servers.map((s, j) => ({ id: `e${j}`, url: s.url, priority: j < 2 ? 1 : 2, weight: j % 2 === 0 ? 3 : 1 })),
      healthCheck: { path: '/', intervalSeconds: 10, timeoutSeconds: 2, healthyThreshold: 1, unhealthyThreshold: 3 },
    };
    say(`policy hits: writing ${policyRoutes.length} routes of 4 probed endpoints (tenants ${[...new Set(policyRoutes.map((r) => r.split('/')[0]))].join(', ')}) and waiting for every endpoint to be healthy and every route a cache hit`);
    await pool(policyRoutes.length, 10, (i) => putPolicy(api, token, policyRoutes[i], body));
    await waitFor(
      'every policy route to be a cache hit with 4 healthy endpoints',
      async () => {
        const answers = await Promise.all(policyRoutes.map((r) => resolveAnswer(resolver, token, r)));
        return answers.every((a) => a.cache === 'HIT' && a.body.endpoints.length === 4 && a.body.endpoints.every((e) => e.health === 'healthy'));
      },
      { timeoutMs: 90_000, intervalMs: 500, shouldStop },
    );
    /** @param {string[]} list */
    const paths = (list) => list.map((route) => `/v1/resolve/${route}`);
    /** @type {{ single: LoadResult[], policy: LoadResult[] }} */
    const rounds = { single: [], policy: [] };
    for (const round of /** @type {const} */ (['single', 'policy', 'single', 'policy', 'single', 'policy'])) {
      if (shouldStop()) break;
      const r = await read(`policy-hits (${round === 'single' ? 'single-URL' : '4-endpoint'} round)`, resolver, paths(round === 'single' ? routes : policyRoutes));
      say(`  ${round === 'single' ? 'single-URL routes' : '4-endpoint routes'}: ${r.requestsPerSecond.toLocaleString('en-US')} per second, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms`);
      rounds[round].push(r);
    }
    /**
     * The worst of the rounds' values; a round without a 2xx answer has none (null), not 0 ms.
     * @param {Array<number | null>} values
     */
    const worst = (values) => {
      const known = values.filter((v) => v !== null);
      return known.length ? Math.max(...known) : null;
    };
    /** @param {LoadResult[]} list */
    const summary = (list) => ({
      requestsPerSecond: Math.round(list.reduce((a, r) => a + r.requestsPerSecond, 0) / Math.max(1, list.length)),
      p50Ms: worst(list.map((r) => r.latencyMs.p50)),
      p99Ms: worst(list.map((r) => r.latencyMs.p99)),
      non2xx: list.reduce((a, r) => a + r.non2xx, 0),
      errors: list.reduce((a, r) => a + r.errors, 0),
      rounds: list.map((r) => r.requestsPerSecond),
      /** The rounds' mean CPU of the generator, and of the resolver, as shares of a core. */
      generator: list[0]?.generator,
      generatorCpu: meanShare(list.map((r) => r.generatorCpu)),
      serverCpu: meanShare(list.map((r) => r.serverCpu)),
    });
    const single = summary(rounds.single);
    const policy = summary(rounds.policy);
    return {
      routes: policyRoutes.length,
      endpointsPerRoute: 4,
      durationSeconds,
      connections,
      single,
      policy,
      // The share of throughput the selection (and the health read beside the entry) costs.
      costPercent: single.requestsPerSecond > 0 ? Math.round((1 - policy.requestsPerSecond / single.requestsPerSecond) * 1000) / 10 : null,
    };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

/**
 * The mean of the rounds' CPU shares (null when a round has none).
 * @param {Array<{ seconds: number | null, shareOfCore: number | null } | null>} list
 */
function meanShare(list) {
  if (!list.length || list.some((x) => x === null || x.seconds === null || x.shareOfCore === null)) return null;
  const known = /** @type {Array<{ seconds: number, shareOfCore: number }>} */ (list);
  const mean = (/** @type {number[]} */ v) => Math.round((v.reduce((a, b) => a + b, 0) / v.length) * 1000) / 1000;
  return { seconds: mean(known.map((x) => x.seconds)), shareOfCore: mean(known.map((x) => x.shareOfCore)) };
}

/**
 * Failover trials' times in ms (Infinity: a trial that never saw the backup): p50/p90/p99/p99.9/max
 * of those that did, how many did not, and every time in order.
 * @param {number[]} values
 */
export function summarizeTrials(values) {
  const s = summarizeLatencies(values.filter(Number.isFinite));
  return { ...s.latencyMs, samples: s.samples, missed: values.filter((v) => !Number.isFinite(v)).length, sortedMs: [...values].sort((a, b) => a - b).map((v) => Math.round(v)) };
}

/**
 * Failover trials: a route of a primary and a backup (priority 2), probed every
 * `intervalSeconds` with thresholds `threshold`. Each trial waits until the resolver and the SDK's
 * memory both pick the healthy primary, stops it, and times (from the stop) the first resolver
 * answer and the first memory answer that pick the backup, polling the resolver every 5 ms and the
 * memory every millisecond; then starts the primary again and waits for the failback.
 * @param {{ api: string, resolver: string, token: string, tenant: string, trials: number, intervalSeconds: number, threshold: number, repo: string, shouldStop: () => boolean, say: Say }} options
 */
export async function failoverTrials({ api, resolver, token, tenant, trials, intervalSeconds, threshold, repo, shouldStop, say }) {
  const require = createRequire(import.meta.url);
  // The built package (dist/libs/client), typed as its source.
  const { TrafficManagerClient } = /** @type {typeof import('@traffic-manager/client')} */ (require(join(repo, 'dist', 'libs', 'client', 'index.js')));
  const primary = await new EndpointServer().start();
  const backup = await new EndpointServer().start();
  const route = `${tenant}/web/prod`;
  const tm = new TrafficManagerClient({ resolverUrl: resolver, apiKey: token, timeoutMs: 5_000, watchWaitMs: 2_000 });
  /** @type {number[]} */
  const resolverMs = [];
  /** @type {number[]} */
  const sdkMs = [];
  /** @type {number[]} */
  const failbackMs = [];
  try {
    await putPolicy(api, token, route, failoverPolicy({ primary, backup, intervalSeconds, threshold }));
    /** @param {string} url */
    const picks = async (url) => {
      const { body } = await resolveAnswer(resolver, token, route);
      const memory = tm.resolveCached(route);
      return body.url === url && body.endpoints.every((e) => e.health === 'healthy') && memory?.url === url && memory.endpoints.every((e) => e.health === 'healthy');
    };
    await tm.resolve(route);
    for (let trial = 0; trial < trials && !shouldStop(); trial++) {
      await waitFor('the primary to be healthy and picked by the resolver and the SDK', () => picks(primary.url), { timeoutMs: 60_000, intervalMs: 50, shouldStop });
      // Off the probers' phase: the stop lands anywhere in a probe interval.
      await sleep(Math.random() * intervalSeconds * 1000);
      const stoppedAt = performance.now();
      await primary.stop();
      const deadline = stoppedAt + 30_000;
      const sdk = (async () => {
        while (performance.now() < deadline) {
          if (tm.resolveCached(route)?.url === backup.url) return performance.now() - stoppedAt;
          await sleep(1);
        }
        return Infinity;
      })();
      const viaResolver = (async () => {
        while (performance.now() < deadline) {
          const { body } = await resolveAnswer(resolver, token, route);
          if (body.url === backup.url) return performance.now() - stoppedAt;
          await sleep(5);
        }
        return Infinity;
      })();
      const [r, s] = await Promise.all([viaResolver, sdk]);
      resolverMs.push(r);
      sdkMs.push(s);
      say(`  trial ${trial + 1} of ${trials}: the resolver picked the backup after ${Math.round(r)} ms, the SDK's memory after ${Math.round(s)} ms`);
      await primary.start();
      const restartedAt = performance.now();
      await waitFor('the failback to the primary', () => picks(primary.url), { timeoutMs: 60_000, intervalMs: 20, shouldStop });
      failbackMs.push(performance.now() - restartedAt);
    }
  } finally {
    await tm.close();
    await Promise.all([primary.stop(), backup.stop()]);
  }
  return {
    trials: resolverMs.length,
    intervalSeconds,
    threshold,
    probers: 2,
    targetMs: intervalSeconds * threshold * 1000 + 100,
    resolver: summarizeTrials(resolverMs),
    sdk: summarizeTrials(sdkMs),
    failback: summarizeTrials(failbackMs),
  };
}
