// The prober-hostile phase of `npm run bench` (tools/bench/run.mjs): the probers' work with one
// hostile tenant. An honest tenant has 100 endpoints on HTTP servers of the bench's own that answer
// 200 at once; a hostile tenant has its quota of probed endpoints (256: 16 routes of 16) on servers
// that accept the connection and never answer, so each of its probes holds a slot for its whole
// timeout. Every endpoint is probed every second by the stack's two probers. Measured without the
// hostile tenant, then with it, from the probers' metrics (probes per second by tenant, the wait for
// a slot, the hostile tenant's probes in flight), from the honest servers (the gap between two probes
// of an endpoint by one prober) and from the resolver (whether an honest endpoint ever left healthy).
import { createServer } from 'node:net';
import { histogramOf, quantile, samplesOf } from './lib.mjs';
import { EndpointServer, putPolicy, send } from './policies.mjs';
import { sleep, waitFor } from './processes.mjs';
import { summarizeLatencies } from './report.cjs';

/** @typedef {import('./lib.mjs').Say} Say */
/** @typedef {import('./lib.mjs').Buckets} Buckets */
/** @typedef {import('./lib.mjs').Counters} Counters */
/** @typedef {import('./policies.mjs').RouteHealth} RouteHealth */

const HONEST = { routes: 25, endpointsPerRoute: 4 };
/** TENANT_MAX_PROBED_ENDPOINTS's default: 16 routes of 16 endpoints (the most a route may have). */
export const HOSTILE = { routes: 16, endpointsPerRoute: 16 };
export const CHECK = { path: '/healthz', intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2 };

/** Accepts connections and never answers; `accepted` counts them. */
export class HangingServer {
  constructor() {
    /** @type {Set<import('node:net').Socket>} */
    this.sockets = new Set();
    this.accepted = 0;
    this.server = createServer((socket) => {
      this.accepted++;
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async start() {
    const server = this.server;
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(undefined));
    });
    return this;
  }

  get url() {
    return `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (this.server.address()).port}`;
  }

  async stop() {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(() => resolve(undefined)));
  }
}

/** The prober's id from its probes' User-Agent, `traffic-manager-health-prober/1 (<id>)`. */
const proberOf = (/** @type {import('node:http').IncomingMessage} */ req) => /\(([^)]*)\)/.exec(req.headers['user-agent'] ?? '')?.[1] ?? 'unknown';

/**
 * Gaps (ms) between consecutive probes of one endpoint by one prober whose later probe falls in
 * [from, to], the probe before `from` included; and the open gap from the last probe to `to`.
 * @param {number[]} times
 * @param {number} from
 * @param {number} to
 */
export function probeGaps(times, from, to) {
  /** @type {number[]} */
  const closed = [];
  let previous;
  for (const t of times) {
    if (t > to) break;
    if (t >= from && previous !== undefined) closed.push(t - previous);
    previous = t;
  }
  return { closed, open: previous === undefined ? to - from : to - Math.max(previous, from) };
}

/**
 * Sum over the probers of a counter's samples of one tenant, by outcome.
 * @param {string[]} texts
 * @param {string} tenant
 */
export function probesOf(texts, tenant) {
  /** @type {Counters} */
  const byOutcome = {};
  for (const text of texts) {
    for (const { labels, value } of samplesOf(text, 'tm_prober_probes_total')) {
      if (labels.tenant === tenant) byOutcome[labels.outcome] = (byOutcome[labels.outcome] ?? 0) + value;
    }
  }
  return byOutcome;
}

export const total = (/** @type {Counters} */ byOutcome) => Object.values(byOutcome).reduce((a, b) => a + b, 0);
const perSecond = (/** @type {number} */ n, /** @type {number} */ seconds) => Math.round((n / seconds) * 10) / 10;

/**
 * The probers' wait histogram, summed over the probers (the same buckets).
 * @param {string[]} texts
 */
function waitHistogram(texts) {
  /** @type {Buckets} */
  const summed = [];
  for (const text of texts) {
    histogramOf(text, 'tm_prober_probe_wait_seconds').forEach(([le, count], i) => {
      summed[i] = [le, (summed[i]?.[1] ?? 0) + count];
    });
  }
  return summed;
}

/**
 * The value of a gauge's sample of one tenant (0 when absent).
 * @param {string} text
 * @param {string} name
 * @param {string} tenant
 */
export const tenantGauge = (text, name, tenant) => samplesOf(text, name).find((s) => s.labels.tenant === tenant)?.value ?? 0;

/**
 * The endpoints every prober probes: the fewest any prober of `texts` (their /metrics) has.
 * @param {string[]} texts
 */
export const proberTargets = (texts) => Math.min(...texts.map((t) => samplesOf(t, 'tm_prober_targets')[0]?.value ?? 0));

/**
 * The phase: the probers' work without the hostile tenant, then with it, `seconds` each.
 * @param {{ api: string, resolver: string, probers: string[], token: string, tenant: string, seconds: number, scrape: (url: string) => Promise<string>, shouldStop: () => boolean, say: Say }} options
 */
export async function proberHostile({ api, resolver, probers, token, tenant, seconds, scrape, shouldStop, say }) {
  const honestTenant = `${tenant}-honest`;
  const hostileTenant = `${tenant}-hostile`;
  const auth = { authorization: `Bearer ${token}` };
  /**
   * Per honest endpoint (server), per prober: the probes' arrival times (performance.now()).
   * @type {Array<Map<string, number[]>>}
   */
  const arrivals = [];
  const honestServers = await Promise.all(
    Array.from({ length: HONEST.routes * HONEST.endpointsPerRoute }, (_, i) => {
      arrivals[i] = new Map();
      return new EndpointServer((req) => {
        const prober = proberOf(req);
        const list = arrivals[i].get(prober) ?? [];
        list.push(performance.now());
        arrivals[i].set(prober, list);
      }).start();
    }),
  );
  const hanging = await Promise.all(Array.from({ length: HOSTILE.endpointsPerRoute }, () => new HangingServer().start()));
  const honestRoutes = Array.from({ length: HONEST.routes }, (_, r) => `${honestTenant}/svc-${r}/prod`);
  const hostileRoutes = Array.from({ length: HOSTILE.routes }, (_, r) => `${hostileTenant}/svc-${r}/prod`);
  const scrapeProbers = () => Promise.all(probers.map((p) => scrape(p)));

  /**
   * Every honest endpoint's health, polled from the resolver once a second: [{at, notHealthy: [endpoint keys]}].
   * @type {Array<{ at: number, notHealthy: string[] }>}
   */
  const polls = [];
  let polling = true;
  const poller = (async () => {
    while (polling && !shouldStop()) {
      const at = performance.now();
      const answers = await Promise.all(honestRoutes.map((route) => send(`${resolver}/v1/routes/${route}/health`, { headers: auth }).catch((e) => ({ status: 0, body: e.message }))));
      /** @type {string[]} */
      const notHealthy = [];
      answers.forEach((res, r) => {
        if (res.status !== 200) return void notHealthy.push(`${honestRoutes[r]} (${res.status})`);
        for (const e of /** @type {RouteHealth} */ (JSON.parse(res.body)).endpoints) if (e.health !== 'healthy') notHealthy.push(`${honestRoutes[r]}|${e.id}: ${e.health}`);
      });
      polls.push({ at, notHealthy });
      await sleep(Math.max(0, 1_000 - (performance.now() - at)));
    }
  })();

  /** The hostile tenant's probes in flight on each prober, sampled every 250 ms while `sampling`. */
  const peaks = probers.map(() => 0);
  let sampling = false;
  const sampler = (async () => {
    while (polling && !shouldStop()) {
      if (sampling) {
        const texts = await scrapeProbers().catch(() => /** @type {string[]} */ ([]));
        texts.forEach((t, i) => {
          peaks[i] = Math.max(peaks[i], tenantGauge(t, 'tm_prober_tenant_probes_in_flight', hostileTenant));
        });
      }
      await sleep(250);
    }
  })();

  /**
   * One measured stage: `seconds` of the probers' metrics; the honest gaps and health from `healthFrom`.
   * @param {string} name
   * @param {number} healthFrom
   */
  const stage = async (name, healthFrom) => {
    peaks.fill(0);
    sampling = true;
    const accepted = () => hanging.reduce((a, h) => a + h.accepted, 0);
    const before = await scrapeProbers();
    const [from, acceptedFrom] = [performance.now(), accepted()];
    await sleep(seconds * 1000);
    const after = await scrapeProbers();
    const [to, acceptedTo] = [performance.now(), accepted()];
    sampling = false;
    const elapsed = (to - from) / 1000;
    const [honestBefore, honestAfter] = [probesOf(before, honestTenant), probesOf(after, honestTenant)];
    const [hostileBefore, hostileAfter] = [probesOf(before, hostileTenant), probesOf(after, hostileTenant)];
    const outcomes = (/** @type {Counters} */ a, /** @type {Counters} */ b) => Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)]));
    const honest = outcomes(honestBefore, honestAfter);
    const hostile = outcomes(hostileBefore, hostileAfter);
    const [waitBefore, waitAfter] = [waitHistogram(before), waitHistogram(after)];
    /** @type {number[]} */
    const closed = [];
    let worstOpen = 0;
    let atServers = 0;
    for (const byProber of arrivals) {
      for (const times of byProber.values()) {
        const g = probeGaps(times, healthFrom, to);
        closed.push(...g.closed);
        worstOpen = Math.max(worstOpen, g.open);
        atServers += times.filter((t) => t >= from && t <= to).length;
      }
    }
    const gaps = summarizeLatencies(closed).latencyMs;
    const left = new Set(polls.filter((p) => p.at >= healthFrom && p.at <= to).flatMap((p) => p.notHealthy));
    const result = {
      name,
      seconds: Math.round(elapsed * 10) / 10,
      probesPerSecond: { honest: perSecond(total(honest), elapsed), hostile: perSecond(total(hostile), elapsed) },
      outcomes: { honest, hostile },
      honestProbesAtServersPerSecond: perSecond(atServers, elapsed),
      hostileConnectionsPerSecond: perSecond(acceptedTo - acceptedFrom, elapsed),
      waitMs: {
        p50: Math.round(quantile(waitBefore, waitAfter, 0.5) * 1e4) / 10,
        p99: Math.round(quantile(waitBefore, waitAfter, 0.99) * 1e4) / 10,
        tenants: 'every tenant (the histogram has no tenant label)',
      },
      honestGapMs: { p50: gaps.p50, p99: gaps.p99, max: Math.max(gaps.max ?? 0, Math.round(worstOpen)), gaps: closed.length },
      healthPolls: polls.filter((p) => p.at >= healthFrom && p.at <= to).length,
      honestLeftHealthy: left.size,
      honestNotHealthy: [...left].slice(0, 10),
      hostilePeakInFlight: Math.max(...peaks),
      hostilePeakInFlightByProber: [...peaks],
      share: after.map((t) => samplesOf(t, 'tm_prober_tenant_share')[0]?.value ?? null),
      probedTenants: after.map((t) => samplesOf(t, 'tm_prober_tenant_probes_in_flight').length),
    };
    say(
      `  ${name}: honest ${result.probesPerSecond.honest} probes/s, hostile ${result.probesPerSecond.hostile} probes/s; wait p99 ${result.waitMs.p99} ms (every tenant); ` +
        `honest gap p99 ${Math.round(gaps.p99 ?? 0)} ms, max ${result.honestGapMs.max} ms; ${result.honestLeftHealthy} honest endpoints left healthy; hostile peak in flight ${result.hostilePeakInFlight} (share ${result.share.join(', ')})`,
    );
    return result;
  };

  try {
    say(`prober-hostile: writing ${HONEST.routes} honest routes of ${HONEST.endpointsPerRoute} endpoints (tenant ${honestTenant}) and waiting until every endpoint is healthy`);
    await Promise.all(
      honestRoutes.map((route, r) =>
        putPolicy(api, token, route, {
          endpoints: Array.from({ length: HONEST.endpointsPerRoute }, (_, e) => ({ id: `e${e}`, url: honestServers[r * HONEST.endpointsPerRoute + e].url })),
          healthCheck: CHECK,
        }),
      ),
    );
    const honestCount = HONEST.routes * HONEST.endpointsPerRoute;
    await waitFor('every honest endpoint to be healthy and probed by both probers', async () => polls.at(-1)?.notHealthy.length === 0 && proberTargets(await scrapeProbers()) >= honestCount, {
      timeoutMs: 90_000,
      intervalMs: 500,
      shouldStop,
    });
    const without = await stage('without the hostile tenant', performance.now());

    say(`prober-hostile: writing ${HOSTILE.routes} hostile routes of ${HOSTILE.endpointsPerRoute} endpoints (tenant ${hostileTenant}: ${HOSTILE.routes * HOSTILE.endpointsPerRoute}, TENANT_MAX_PROBED_ENDPOINTS's default) whose servers never answer`);
    const hostileFrom = performance.now();
    await Promise.all(
      hostileRoutes.map((route) =>
        putPolicy(api, token, route, { endpoints: hanging.map((h, e) => ({ id: `e${e}`, url: h.url })), healthCheck: CHECK }),
      ),
    );
    await waitFor('both probers to probe the hostile endpoints', async () => proberTargets(await scrapeProbers()) >= honestCount + HOSTILE.routes * HOSTILE.endpointsPerRoute, { timeoutMs: 60_000, intervalMs: 200, shouldStop });
    const withHostile = await stage('with the hostile tenant', hostileFrom);
    return {
      honest: { tenant: honestTenant, routes: HONEST.routes, endpoints: honestCount },
      hostile: { tenant: hostileTenant, routes: HOSTILE.routes, endpoints: HOSTILE.routes * HOSTILE.endpointsPerRoute },
      check: CHECK,
      probers: probers.length,
      stages: [without, withHostile],
    };
  } finally {
    polling = false;
    await Promise.all([poller, sampler]);
    for (const t of [hostileTenant, honestTenant]) await send(`${api}/v1/tenants/${t}`, { method: 'DELETE', headers: auth }).catch(() => undefined);
    await Promise.all([...honestServers.map((s) => s.stop()), ...hanging.map((h) => h.stop())]);
  }
}

/**
 * What a reader of the results should know: an honest endpoint left healthy, a stage without probes.
 * @param {Awaited<ReturnType<typeof proberHostile>>} p
 */
export function proberWarnings(p) {
  /** @type {string[]} */
  const out = [];
  for (const s of p.stages) {
    if (s.honestLeftHealthy) out.push(`${s.name}: ${s.honestLeftHealthy} honest endpoints left healthy (${s.honestNotHealthy.join('; ')})`);
    if (!s.healthPolls) out.push(`${s.name}: the honest endpoints' health was never read`);
  }
  return out;
}
