// The noisy-neighbour phase of `npm run bench` (tools/bench/run.mjs): an honest tenant B measured
// alone, then beside a tenant A that runs every abuse at once (docs/guarantees.md, "Tenancy: limits
// and revocation"). The scene of e2e/src/noisy-neighbour.e2e-spec.ts, at the stack's own limits,
// measured and reported, never asserted.
//   B, on a stored key of its own and well under its rate limit: resolves at a steady rate on its
//     probed routes; a watch stream of its tenant receiving its writes at a steady rate (from each
//     PUT's answer to its event); failover trials (a probed route's primary stopped, timed until the
//     resolver's answer picks the backup); the health of its endpoints read every second.
//   A, on stored keys of its own: hanging probes at its quota (256 endpoints whose servers accept and
//     never answer; one route more is refused), watch streams at its quotas that never read, and a
//     flood of resolves far above its rate; the streams and the flood from a process of its own
//     (noisy-tenant.mjs).
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { samplesOf, steadyRate, sumOf } from './lib.mjs';
import { createKey, deleteKey, putRoute } from './phases.mjs';
import { EndpointServer, failoverPolicy, putPolicy, send } from './policies.mjs';
import { CHECK, HangingServer, HOSTILE, proberTargets, probesOf, tenantGauge, total } from './prober-hostile.mjs';
import { forkClients, sleep, waitFor } from './processes.mjs';
import { summarizeLatencies } from './report.cjs';
import { sseReader } from './sse.mjs';

/** @typedef {import('./lib.mjs').Say} Say */
/** @typedef {import('./lib.mjs').Counters} Counters */
/** @typedef {import('./policies.mjs').Answer} Answer */
/** @typedef {import('./policies.mjs').HealthCheck} HealthCheck */
/** @typedef {import('./policies.mjs').Resolution} Resolution */
/** @typedef {import('./policies.mjs').RouteHealth} RouteHealth */
/** @typedef {import('./noisy-tenant.mjs').FloodTotals} FloodTotals */
/** @typedef {import('./noisy-tenant.mjs').Streams} Streams */
/** @typedef {import('./processes.mjs').Clients} Clients */
/** @typedef {{ id: string, key: string }} KeyRecord A stored key: its id (to delete it) and its secret. */
/**
 * What exists of B, so that it is cleaned up even after a failure: its endpoint servers, its key and its stream.
 * @typedef {{ servers: EndpointServer[], keyRecord?: KeyRecord, stream?: WatchStream }} BHeld
 */
/**
 * Tenant B once started: its routes, key, failover servers and check, and its watch stream.
 * @typedef {{ tenant: string, healthRoutes: string[], failoverRoute: string, key: string, auth: Record<string, string>, primary: EndpointServer, backup: EndpointServer, check: HealthCheck, stream: WatchStream }} BTenant
 */
/** @typedef {{ keys: KeyRecord[], hanging: HangingServer[], clients?: Clients }} AHeld What exists of A, to clean up. */
/** @typedef {{ perKey: number, perTenant: number, rate: number }} Quotas The watch streams' quotas and the rate limit per key. */
/**
 * While B is measured with A: the sampling of A's probes in flight (`state.peaks`, per prober) and
 * what A's flood and the resolver's metrics were as the stage began.
 * @typedef {{ state: { on: boolean, peaks: number[] }, loop: Promise<void>, ready: Promise<{ flood: FloodTotals, resolver: string }> }} Sampling
 */
/**
 * What A did while B was measured beside it.
 * @typedef {{ flood: ReturnType<typeof floodBetween>, probesInFlightPeak: number[], resolverStreams: { atStart: number | null, atEnd: number | null }, streamsClosed: Counters }} DuringA
 */

/** B's probed routes (each of 4 endpoints, all answering), beside its failover route; the routes its writes cycle through. */
const B = { routes: 4, endpointsPerRoute: 4, writeRoutes: 5 };
const FAILOVER_POLL_MS = 5;
const HEALTH_POLL_MS = 1_000;
/** A write whose event has not arrived this long after the stage's last answer is missing. */
const DELIVERY_GRACE_MS = 5_000;
/** B's requests per second to the resolver besides its resolve load, at most: the failover's polls and the health reads. */
export const B_OTHER_RESOLVER_RATE = 1000 / FAILOVER_POLL_MS + B.routes + 1;

/**
 * @param {Counters} map
 * @param {string | number} key
 */
const count = (map, key, by = 1) => {
  map[key] = (map[key] ?? 0) + by;
};
/**
 * `after - before` by key, the keys that did not change left out.
 * @param {Counters} after
 * @param {Counters} before
 * @returns {Counters}
 */
const minus = (after, before) => Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => v !== 0));
const refusedIn = (/** @type {Counters} */ statuses) => Object.entries(statuses).reduce((n, [status, c]) => n + (Number(status) >= 300 ? c : 0), 0);
const isEmpty = (/** @type {{ lapsed: string[], unread: number }} */ { lapsed, unread }) => lapsed.length === 0 && unread === 0;
const perSecond = (/** @type {number} */ n, /** @type {number} */ seconds) => Math.round((n / seconds) * 10) / 10;

/** Every answer and failure of some of B's requests: statuses, network errors, the first refusal. */
function tally() {
  /** @type {{ requests: number, statuses: Counters, errors: number, first: string | undefined }} */
  const t = { requests: 0, statuses: {}, errors: 0, first: undefined };
  return {
    t,
    /**
     * @param {string} what
     * @param {Answer} res
     */
    note(what, res) {
      t.requests++;
      count(t.statuses, res.status);
      if (res.status >= 300) t.first ??= `${what}: ${res.status} ${res.body.slice(0, 200)}`;
      return res;
    },
    /**
     * @param {string} what
     * @param {unknown} e
     */
    fail(what, e) {
      t.requests++;
      t.errors++;
      t.first ??= `${what}: ${e instanceof Error ? e.message : String(e)}`;
    },
  };
}

/** The machine's CPU time so far (/proc/stat, in clock ticks): busy and in all; undefined where there is no /proc. */
function machineCpu() {
  try {
    const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
    const ticks = fields.map(Number);
    const all = ticks.reduce((x, y) => x + y, 0);
    // idle and iowait are not busy.
    return { busy: all - ticks[3] - (ticks[4] ?? 0), all };
  } catch {
    return undefined;
  }
}

/**
 * The refusals the apps counted (tm_quota_refusals_total), of one tenant, by limit, summed over `texts`.
 * @param {string[]} texts
 * @param {string} tenant
 */
function refusalsOf(texts, tenant) {
  /** @type {Counters} */
  const byLimit = {};
  for (const text of texts) for (const { labels, value } of samplesOf(text, 'tm_quota_refusals_total')) if (labels.tenant === tenant) count(byLimit, labels.limit, value);
  return byLimit;
}

/** B's watch stream of its tenant, read as it comes: when each change's event arrived; reopened from its last id when it ends. */
class WatchStream {
  /**
   * @param {string} resolver
   * @param {string} tenant
   * @param {string} key
   */
  constructor(resolver, tenant, key) {
    this.resolver = resolver;
    this.tenant = tenant;
    this.key = key;
    /** @type {Map<number, number>} revision -> when its event arrived (performance.now()) */
    this.arrivals = new Map();
    this.reconnects = 0;
    /** @type {Counters} */
    this.refusals = {};
    /** @type {string | undefined} */
    this.lastId = undefined;
    this.synced = false;
    this.closed = false;
    /** @type {import('node:http').IncomingMessage | undefined} */
    this.res = undefined;
  }

  open() {
    /** @type {Record<string, string>} */
    const headers = { authorization: `Bearer ${this.key}`, accept: 'text/event-stream' };
    if (this.lastId !== undefined) headers['last-event-id'] = this.lastId;
    let ended = false;
    const end = () => {
      if (ended || this.closed) return;
      ended = true;
      this.res = undefined;
      this.reconnects++;
      setTimeout(() => this.open(), 200);
    };
    const req = request(`${this.resolver}/v1/watch/${this.tenant}`, { headers }, (res) => {
      if (res.statusCode !== 200) {
        count(this.refusals, res.statusCode ?? 0);
        res.resume();
        return end();
      }
      this.res = res;
      res.setEncoding('utf8');
      let at = 0;
      const read = sseReader((event, id) => {
        if (id !== undefined) this.lastId = id;
        if (event === 'bookmark') this.synced = true;
        else if ((event === 'put' || event === 'delete') && id !== undefined && !this.arrivals.has(Number(id))) this.arrivals.set(Number(id), at);
      });
      res.on('data', (chunk) => {
        at = performance.now();
        read(chunk);
      });
      res.on('close', end);
    });
    req.on('error', end);
    req.end();
    return this;
  }

  close() {
    this.closed = true;
    this.res?.destroy();
  }
}

/**
 * Tenant B (what exists of it kept in `held`, so that it is cleaned up even after a failure): its key, routes, endpoint servers and stream.
 * @param {BHeld} held
 * @param {{ api: string, resolver: string, token: string, tenant: string, intervalSeconds: number, threshold: number }} options
 * @returns {Promise<BTenant>}
 */
async function startB(held, { api, resolver, token, tenant, intervalSeconds, threshold }) {
  const healthRoutes = Array.from({ length: B.routes }, (_, r) => `${tenant}/svc-${r}/prod`);
  const failoverRoute = `${tenant}/web/prod`;
  const created = await send(`${api}/v1/tenants`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ slug: tenant }) });
  if (created.status !== 201) throw new Error(`POST /v1/tenants ${tenant}: ${created.status} ${created.body.slice(0, 200)}`);
  held.keyRecord = await createKey(api, token, { name: 'bench noisy-neighbour B', tenant, scopes: ['routes:write'] });
  const key = held.keyRecord.key;
  const auth = { authorization: `Bearer ${key}` };
  for (const route of healthRoutes) {
    const servers = await Promise.all(Array.from({ length: B.endpointsPerRoute }, () => new EndpointServer().start()));
    held.servers.push(...servers);
    await putPolicy(api, key, route, { endpoints: servers.map((s, e) => ({ id: `e${e}`, url: s.url })), healthCheck: CHECK });
  }
  const primary = await new EndpointServer().start();
  const backup = await new EndpointServer().start();
  held.servers.push(primary, backup);
  const policy = failoverPolicy({ primary, backup, intervalSeconds, threshold });
  const check = policy.healthCheck;
  await putPolicy(api, key, failoverRoute, policy);
  for (let r = 0; r < B.writeRoutes; r++) await putRoute(api, key, `${tenant}/cfg-${r}/prod`, `https://cfg-${r}.quiet.bench.internal/`);
  held.stream = new WatchStream(resolver, tenant, key).open();
  return { tenant, healthRoutes, failoverRoute, key, auth, primary, backup, check, stream: held.stream };
}

/**
 * Whether the resolver answers B's failover route with its primary, every endpoint healthy.
 * @param {string} resolver
 * @param {BTenant} b
 */
async function picksPrimary(resolver, b, other = tally()) {
  const res = other.note('failover resolve', await send(`${resolver}/v1/resolve/${b.failoverRoute}`, { headers: b.auth }));
  if (res.status !== 200) return false;
  /** @type {Resolution} */
  const body = JSON.parse(res.body);
  return body.url === b.primary.url && body.endpoints.every((e) => e.health === 'healthy');
}

/**
 * B's endpoints that are not healthy now (`lapsed`; the failover route's primary left out: the
 * trials stop it), from the resolver; its routes whose health could not be read (`unread`: the
 * failure is counted in `other`).
 * @param {string} resolver
 * @param {BTenant} b
 */
async function notHealthy(resolver, b, other = tally()) {
  /** @type {string[]} */
  const lapsed = [];
  let unread = 0;
  for (const route of [...b.healthRoutes, b.failoverRoute]) {
    let res;
    try {
      res = other.note('health', await send(`${resolver}/v1/routes/${route}/health`, { headers: b.auth }));
    } catch (e) {
      other.fail('health', e);
    }
    if (res?.status !== 200) {
      unread++;
      continue;
    }
    for (const e of /** @type {RouteHealth} */ (JSON.parse(res.body)).endpoints) if (e.health !== 'healthy' && !(route === b.failoverRoute && e.id === 'primary')) lapsed.push(`${route}#${e.id}: ${e.health}`);
  }
  return { lapsed, unread };
}

/**
 * One stage of B's measurements, `seconds` long (longer by a failover trial under way at its end):
 * resolves at `rate` per second on its probed routes, writes at `writeRate` per second timed to their
 * events on its stream, failover trials, its endpoints' health every second.
 * @param {{ api: string, resolver: string, b: BTenant, rate: number, writeRate: number, seconds: number, intervalSeconds: number, shouldStop: () => boolean, name: string, say: Say }} options
 */
async function measureB({ api, resolver, b, rate, writeRate, seconds, intervalSeconds, shouldStop, name, say }) {
  const resolve = tally();
  const other = tally();
  /** @type {number[]} */
  const latencies = [];
  /** @type {Set<Promise<void>>} */
  const inFlight = new Set();
  /** @param {Promise<void>} p */
  const track = (p) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let over = false;
  const more = () => !over && !shouldStop();

  const resolving = steadyRate(rate, more, (i) => {
    const route = b.healthRoutes[i % b.healthRoutes.length];
    const t0 = performance.now();
    track(
      send(`${resolver}/v1/resolve/${route}`, { headers: b.auth }).then(
        (res) => {
          resolve.note('resolve', res);
          if (res.status === 200) latencies.push(performance.now() - t0);
        },
        (e) => resolve.fail('resolve', e),
      ),
    );
  });

  /**
   * revision -> when its PUT was answered (performance.now()).
   * @type {Map<number, number>}
   */
  const answers = new Map();
  const run = Date.now().toString(36);
  const writing = steadyRate(writeRate, more, (i) => {
    track(
      send(`${api}/v1/routes/${b.tenant}/cfg-${i % B.writeRoutes}/prod`, {
        method: 'PUT',
        headers: { ...b.auth, 'content-type': 'application/json' },
        body: JSON.stringify({ url: `https://w${i}-${run}.quiet.bench.internal/` }),
      }).then(
        (res) => {
          other.note('PUT', res);
          if (res.status < 300) answers.set(Number(res.headers['x-route-revision']), performance.now());
        },
        (e) => other.fail('PUT', e),
      ),
    );
  });

  /** @type {Set<string>} */
  const left = new Set();
  let healthPolls = 0;
  const polling = (async () => {
    while (more()) {
      const at = performance.now();
      const { lapsed, unread } = await notHealthy(resolver, b, other);
      for (const e of lapsed) left.add(e);
      // A round counts when every route's health was read.
      if (unread === 0) healthPolls++;
      await sleep(Math.max(0, HEALTH_POLL_MS - (performance.now() - at)));
    }
  })();

  /** @type {number[]} */
  const failoverMs = [];
  /** @type {string | undefined} */
  let failoverNote;
  const failing = (async () => {
    while (performance.now() < deadline && !shouldStop()) {
      try {
        await waitFor("B's primary to be healthy and picked", () => picksPrimary(resolver, b, other), { timeoutMs: 60_000, intervalMs: 50, shouldStop });
      } catch (e) {
        failoverNote = e instanceof Error ? e.message : String(e);
        break;
      }
      if (performance.now() >= deadline) break;
      // Off the probers' phase: the stop lands anywhere in a probe interval.
      await sleep(Math.random() * intervalSeconds * 1000);
      const stoppedAt = performance.now();
      await b.primary.stop();
      let took = Infinity;
      while (performance.now() - stoppedAt < 30_000 && !shouldStop()) {
        try {
          const res = other.note('failover resolve', await send(`${resolver}/v1/resolve/${b.failoverRoute}`, { headers: b.auth }));
          if (res.status === 200 && JSON.parse(res.body).url === b.backup.url) {
            took = performance.now() - stoppedAt;
            break;
          }
        } catch (e) {
          other.fail('failover resolve', e);
        }
        await sleep(FAILOVER_POLL_MS);
      }
      failoverMs.push(took);
      await b.primary.start();
    }
  })();

  await failing;
  await sleep(Math.max(0, deadline - performance.now()));
  over = true;
  await Promise.all([resolving, writing, polling]);
  await Promise.all(inFlight);
  const elapsed = (performance.now() - started) / 1000;
  // Every write's event, or the grace after the last answer.
  const graceEnd = performance.now() + DELIVERY_GRACE_MS;
  while ([...answers.keys()].some((r) => !b.stream.arrivals.has(r)) && performance.now() < graceEnd) await sleep(50);
  /** @type {number[]} */
  const deliveries = [];
  let missing = 0;
  for (const [revision, answered] of answers) {
    const at = b.stream.arrivals.get(revision);
    if (at === undefined) missing++;
    else deliveries.push(at - answered);
  }
  const resolveMs = summarizeLatencies(latencies).latencyMs;
  const failover = summarizeLatencies(failoverMs.filter(Number.isFinite));
  const stage = {
    name,
    seconds: Math.round(elapsed * 10) / 10,
    resolve: {
      ratePerSecond: rate,
      requests: resolve.t.requests,
      ok: latencies.length,
      perSecond: perSecond(latencies.length, elapsed),
      refused: refusedIn(resolve.t.statuses) + resolve.t.errors,
      statuses: resolve.t.statuses,
      errors: resolve.t.errors,
      first: resolve.t.first,
      ms: resolveMs,
    },
    other: { requests: other.t.requests, refused: refusedIn(other.t.statuses) + other.t.errors, statuses: other.t.statuses, errors: other.t.errors, first: other.t.first },
    watch: { writeRatePerSecond: writeRate, writes: answers.size, deliveries: deliveries.length, missing, graceSeconds: DELIVERY_GRACE_MS / 1000, ms: summarizeLatencies(deliveries).latencyMs },
    failover: {
      trials: failoverMs.length,
      missed: failoverMs.filter((v) => !Number.isFinite(v)).length,
      ms: failover.latencyMs,
      sortedMs: [...failoverMs].sort((x, y) => x - y).map((v) => (Number.isFinite(v) ? Math.round(v) : null)),
      ...(failoverNote ? { note: failoverNote } : {}),
    },
    health: { endpoints: B.routes * B.endpointsPerRoute + 1, polls: healthPolls, leftHealthy: left.size, notHealthy: [...left].slice(0, 10) },
  };
  say(
    `  ${name}: B's resolves ${stage.resolve.perSecond}/s p50 ${fmt(resolveMs.p50)} p99 ${fmt(resolveMs.p99)}, ${stage.resolve.refused + stage.other.refused} refused or failed; ` +
      `watch p50 ${fmt(stage.watch.ms.p50)} p99 ${fmt(stage.watch.ms.p99)}, ${missing} of ${answers.size} missing; failover ${stage.failover.trials} trials p50 ${fmt(stage.failover.ms.p50)} max ${fmt(stage.failover.ms.max)}` +
      `${stage.failover.missed ? ` (${stage.failover.missed} missed)` : ''}; ${left.size} of ${stage.health.endpoints} endpoints left healthy`,
  );
  return stage;
}

const fmt = (/** @type {number | null | undefined} */ ms) => (ms === null || ms === undefined ? '–' : `${Math.round(ms * 10) / 10} ms`);

/**
 * Tenant A into `a`, everything at once: its keys (one writes its routes and floods, the others hold
 * its streams), its hanging probes at the quota and one route more, its streams at the quotas and
 * one more on each full key, then its flood: what it was answered, and the child holding its
 * streams and flood (what exists of A kept in `held`, so that it is cleaned up even after a failure).
 * @param {AHeld} held
 * @param {{ api: string, resolver: string, token: string, tenant: string, streams: number, floodRate: number, quotas: Quotas, logFile: string, say: Say }} options
 */
async function startA(held, { api, resolver, token, tenant, streams, floodRate, quotas, logFile, say }) {
  const created = await send(`${api}/v1/tenants`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ slug: tenant }) });
  if (created.status !== 201) throw new Error(`POST /v1/tenants ${tenant}: ${created.status} ${created.body.slice(0, 200)}`);
  const floodKey = await createKey(api, token, { name: 'bench noisy-neighbour A (routes, flood)', tenant, scopes: ['routes:write'] });
  held.keys.push(floodKey);
  /** @type {Array<{ key: string, streams: number }>} */
  const streamKeys = [];
  for (let i = 0; i * quotas.perKey < streams; i++) {
    const key = await createKey(api, token, { name: `bench noisy-neighbour A (streams ${i + 1})`, tenant, scopes: ['routes:read'] });
    held.keys.push(key);
    streamKeys.push({ key: key.key, streams: Math.min(quotas.perKey, streams - i * quotas.perKey) });
  }
  await putRoute(api, floodKey.key, `${tenant}/flood/prod`, 'https://flood.noisy.bench.internal/');

  const probed = HOSTILE.routes * HOSTILE.endpointsPerRoute;
  say(`noisy-neighbour: A writes ${HOSTILE.routes} routes of ${HOSTILE.endpointsPerRoute} endpoints (${probed}, TENANT_MAX_PROBED_ENDPOINTS's default) on servers that never answer, and one route more`);
  const hanging = await Promise.all(Array.from({ length: HOSTILE.endpointsPerRoute }, () => new HangingServer().start()));
  held.hanging.push(...hanging);
  const body = { endpoints: hanging.map((h, e) => ({ id: `e${e}`, url: h.url })), healthCheck: CHECK };
  for (let r = 0; r < HOSTILE.routes; r++) await putPolicy(api, floodKey.key, `${tenant}/tar-${r}/prod`, body);
  const over = await send(`${api}/v1/routes/${tenant}/tar-${HOSTILE.routes}/prod`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${floodKey.key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  /**
   * @param {Answer} res
   * @returns {string | undefined}
   */
  const problem = (res) => {
    try {
      return JSON.parse(res.body).code;
    } catch {
      return undefined;
    }
  };
  const probes = { endpoints: probed, routes: HOSTILE.routes, check: CHECK, overQuota: { status: over.status, code: problem(over) } };

  // One stream more on each key at its quota (per key), and on the flood's key once the tenant is at its quota (per tenant).
  const overQuota = [
    ...streamKeys.filter((k) => k.streams === quotas.perKey).map((k) => ({ key: k.key, quota: 'per key' })),
    ...(streams >= quotas.perTenant ? [{ key: floodKey.key, quota: 'per tenant' }] : []),
  ];
  say(`noisy-neighbour: A opens ${streams} watch streams that never read (${streamKeys.map((k) => k.streams).join(' + ')} on ${streamKeys.length} keys), then ${overQuota.length} over its quotas`);
  const clients = forkClients(join(import.meta.dirname, 'noisy-tenant.mjs'), [], logFile);
  held.clients = clients;
  clients.send({ streams: { resolver, tenant, keys: streamKeys, overQuota: overQuota.map((o) => o.key) } });
  const opened = /** @type {Streams} */ ((await clients.next((m) => m.streams, 5 * 60_000)).streams);
  const aStreams = { wanted: streams, keys: streamKeys.map((k) => k.streams), ...opened, overQuota: opened.overQuota.map((answer, i) => ({ quota: overQuota[i].quota, ...answer })) };

  say(`noisy-neighbour: A floods the resolver with ${floodRate} resolves per second on one key (RATE_LIMIT_PER_KEY ${quotas.rate})`);
  clients.send({ flood: { resolver, key: floodKey.key, path: `/v1/resolve/${tenant}/flood/prod`, rate: floodRate, connections: 32 } });
  await clients.next((m) => m.flooding, 30_000);
  return { probes, streams: aStreams, clients };
}

/**
 * A's flood counts between two of its totals.
 * @param {FloodTotals} before
 * @param {FloodTotals} after
 */
function floodBetween(before, after) {
  const answered = after.answered - before.answered;
  const seconds = after.seconds - before.seconds;
  return {
    seconds: Math.round(seconds * 10) / 10,
    sent: after.sent - before.sent,
    answered,
    perSecond: perSecond(answered, seconds),
    statuses: minus(after.statuses, before.statuses),
    codes: minus(after.codes, before.codes),
    skipped: after.skipped - before.skipped,
    errors: after.errors - before.errors,
  };
}

/**
 * The phase: B alone for `seconds`, then A at every limit and B for as long again. A's and B's
 * tenants (and their keys) are deleted at the end, whatever happens.
 * @param {{ api: string, resolver: string, probers: string[], token: string, tenant: string, seconds: number, rate: number, writeRate: number, floodRate: number, streams: number, quotas: Quotas, intervalSeconds: number, threshold: number, logFile: string, scrape: (url: string) => Promise<string>, shouldStop: () => boolean, say: Say }} options
 */
export async function noisyNeighbour({ api, resolver, probers, token, tenant, seconds, rate, writeRate, floodRate, streams, quotas, intervalSeconds, threshold, logFile, scrape, shouldStop, say }) {
  const aTenant = `${tenant}-a`;
  const bTenant = `${tenant}-b`;
  const admin = { authorization: `Bearer ${token}` };
  const scrapeAll = (/** @type {string[]} */ urls) => Promise.all(urls.map((u) => scrape(u)));
  /** @type {BHeld} */
  const heldB = { servers: [] };
  /** @type {AHeld} */
  const heldA = { keys: [], hanging: [] };
  try {
    say(`noisy-neighbour: tenant B (${bTenant}, a key of its own): ${B.routes} routes of ${B.endpointsPerRoute} probed endpoints, a failover route, a watch stream; waiting until every endpoint is healthy`);
    const b = await startB(heldB, { api, resolver, token, tenant: bTenant, intervalSeconds, threshold });
    await waitFor("B's endpoints to be healthy, its primary picked and its stream synced", async () => b.stream.synced && (await picksPrimary(resolver, b)) && isEmpty(await notHealthy(resolver, b)), {
      timeoutMs: 90_000,
      intervalMs: 500,
      shouldStop,
    });

    /**
     * @param {string} name
     * @param {{ start(): Sampling, stop(sampling: Sampling): Promise<DuringA> }} [during]
     */
    const stage = async (name, during) => {
      const [before, beforeApps] = [await scrapeAll(probers), await scrapeAll([resolver, api])];
      const reconnects = b.stream.reconnects;
      const cpu = machineCpu();
      const sampling = during?.start();
      const s = await measureB({ api, resolver, b, rate, writeRate, seconds, intervalSeconds, shouldStop, name, say });
      const duringA = during && sampling && (await during.stop(sampling));
      const [after, afterApps] = [await scrapeAll(probers), await scrapeAll([resolver, api])];
      const cpuAfter = machineCpu();
      return {
        ...s,
        // What the machine and the resolver were busy with: one machine runs the stack, B and A.
        cpu: {
          resolverCores: Math.round(((sumOf(afterApps[0], 'tm_process_cpu_seconds_total') - sumOf(beforeApps[0], 'tm_process_cpu_seconds_total')) / s.seconds) * 100) / 100,
          machineBusyPercent: cpu && cpuAfter ? Math.round(((cpuAfter.busy - cpu.busy) / (cpuAfter.all - cpu.all)) * 100) : null,
        },
        probesPerSecond: perSecond(total(probesOf(after, bTenant)) - total(probesOf(before, bTenant)), s.seconds),
        appRefusals: minus(refusalsOf(afterApps, bTenant), refusalsOf(beforeApps, bTenant)),
        watch: { ...s.watch, reconnects: b.stream.reconnects - reconnects, refusals: { ...b.stream.refusals } },
        ...(duringA ? { a: { ...duringA, appRefusals: minus(refusalsOf(afterApps, aTenant), refusalsOf(beforeApps, aTenant)) } } : {}),
      };
    };
    const without = await stage('B without A');

    const targetsBefore = proberTargets(await scrapeAll(probers));
    const a = await startA(heldA, { api, resolver, token, tenant: aTenant, streams, floodRate, quotas, logFile, say });
    const probed = a.probes.endpoints;
    await waitFor("both probers to probe A's endpoints", async () => proberTargets(await scrapeAll(probers)) >= targetsBefore + probed, { timeoutMs: 60_000, intervalMs: 200, shouldStop });
    // A's probes fill its share of the probers' slots within a probe timeout; its flood is at its pace.
    await sleep(2_000);

    /** While B is measured with A: A's probes in flight on each prober (the peak, every second), its flood and streams. */
    /** A's flood totals so far. */
    const floodCount = async () => {
      a.clients.send({ count: true });
      return /** @type {FloodTotals} */ ((await a.clients.next((m) => m.count, 30_000)).count);
    };
    const withA = {
      /** @returns {Sampling} */
      start() {
        const peaks = probers.map(() => 0);
        const state = { on: true, peaks };
        const loop = (async () => {
          while (state.on && !shouldStop()) {
            const texts = await scrapeAll(probers).catch(() => /** @type {string[]} */ ([]));
            texts.forEach((t, i) => {
              peaks[i] = Math.max(peaks[i], tenantGauge(t, 'tm_prober_tenant_probes_in_flight', aTenant));
            });
            await sleep(1_000);
          }
        })();
        // A's flood and the resolver's metrics as the stage starts.
        const ready = (async () => ({ flood: await floodCount(), resolver: await scrape(resolver) }))();
        return { state, loop, ready };
      },
      /**
       * @param {Sampling} sampling
       * @returns {Promise<DuringA>}
       */
      async stop({ state, loop, ready }) {
        state.on = false;
        await loop;
        const atStart = await ready;
        const flood = await floodCount();
        const text = await scrape(resolver);
        const streamsGauge = (/** @type {string} */ t) => samplesOf(t, 'tm_resolver_watch_streams')[0]?.value ?? null;
        const closed = (/** @type {string} */ t) => Object.fromEntries(samplesOf(t, 'tm_resolver_watch_streams_closed_total').map((x) => [x.labels.reason, x.value]));
        return {
          flood: floodBetween(atStart.flood, flood),
          probesInFlightPeak: state.peaks,
          resolverStreams: { atStart: streamsGauge(atStart.resolver), atEnd: streamsGauge(text) },
          streamsClosed: minus(closed(text), closed(atStart.resolver)),
        };
      },
    };
    const withAStage = await stage('B with A', withA);
    a.clients.send({ stop: true });
    const stopped = /** @type {FloodTotals} */ ((await a.clients.next((m) => m.stopped, 30_000)).stopped);
    return {
      seconds,
      b: {
        tenant: bTenant,
        key: 'a stored key of its own (routes:write)',
        resolveRatePerSecond: rate,
        writeRatePerSecond: writeRate,
        routes: B.routes,
        probedEndpoints: B.routes * B.endpointsPerRoute + 2,
        failover: { pollMs: FAILOVER_POLL_MS, check: b.check, targetMs: intervalSeconds * threshold * 1000 + 100 },
      },
      a: {
        tenant: aTenant,
        keys: heldA.keys.length,
        probes: a.probes,
        streams: a.streams,
        flood: { ratePerSecond: floodRate, limitPerSecond: quotas.rate, total: stopped },
      },
      stages: [without, withAStage],
    };
  } finally {
    heldA.clients?.kill();
    heldB.stream?.close();
    for (const key of [...heldA.keys, ...(heldB.keyRecord ? [heldB.keyRecord] : [])]) await deleteKey(api, token, key.id);
    for (const t of [aTenant, bTenant]) await send(`${api}/v1/tenants/${t}`, { method: 'DELETE', headers: admin }).catch(() => undefined);
    await Promise.all([...heldB.servers.map((s) => s.stop()), ...heldA.hanging.map((h) => h.stop())]);
  }
}

/**
 * What a reader of the results should know: B refused, an event missing, a verdict lapsed, a failover not done; A not limited.
 * @param {Awaited<ReturnType<typeof noisyNeighbour>>} n
 */
export function noisyWarnings(n) {
  /** @type {string[]} */
  const out = [];
  for (const s of n.stages) {
    const refused = s.resolve.refused + s.other.refused;
    if (refused) out.push(`${s.name}: ${refused} of B's requests refused or failed (${JSON.stringify({ ...s.resolve.statuses, ...s.other.statuses })}; the first: ${s.resolve.first ?? s.other.first})`);
    if (Object.values(s.appRefusals ?? {}).some((v) => v > 0)) out.push(`${s.name}: the apps counted refusals of B: ${JSON.stringify(s.appRefusals)}`);
    if (s.watch.missing) out.push(`${s.name}: ${s.watch.missing} of B's ${s.watch.writes} events did not arrive within ${s.watch.graceSeconds} s of the last answer`);
    if (s.health.leftHealthy) out.push(`${s.name}: ${s.health.leftHealthy} of B's endpoints left healthy (${s.health.notHealthy.join('; ')})`);
    if (!s.health.polls) out.push(`${s.name}: B's endpoints' health was never read`);
    if (s.failover.missed || !s.failover.trials) out.push(`${s.name}: ${s.failover.trials ? `${s.failover.missed} of ${s.failover.trials} failover trials never picked the backup within 30 s` : 'no failover trial'}${s.failover.note ? ` (${s.failover.note})` : ''}`);
  }
  const a = n.a;
  if (a.streams.opened < a.streams.wanted) out.push(`A opened ${a.streams.opened} of its ${a.streams.wanted} streams (${JSON.stringify(a.streams.statuses)})`);
  if (!a.flood.total.statuses['429']) out.push(`A's flood got no 429 (${JSON.stringify(a.flood.total.statuses)})`);
  if (a.flood.total.skipped) out.push(`A's flood skipped ${a.flood.total.skipped} requests: the resolver fell a second behind it`);
  if (a.probes.overQuota.status !== 409) out.push(`A's route over its probed-endpoint quota was answered ${a.probes.overQuota.status}, not 409`);
  return out;
}
