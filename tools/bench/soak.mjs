// The watch soak of `npm run bench` (tools/bench/run.mjs): the resolver's memory with many watch
// streams open, some of whose clients never read, while writes flow for minutes.
//   1. Tenants of the soak, each with one route and a stored key bound to it (routes:read), so the
//      streams count against the per-key and per-tenant quotas as real clients' do.
//   2. soak-clients.mjs (a process of its own) opens the readers, then the non-readers; the
//      resolver's memory is taken before, after each kind, and after the first cuts of non-readers.
//   3. Writes at a steady rate across the tenants for the soak's length; every 10 s a sample: the
//      resolver's resident memory and heap, its stream gauge and closed-by-reason counters, the
//      system's TCP socket memory, the clients' counts and the readers' delivery latency.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { countersBy, delta, gaugeOf, pool, processMemory, steadyRate, sumOf } from './lib.mjs';
import { createKey, deleteKey, putRoute } from './phases.mjs';
import { forkClients, sleep } from './processes.mjs';
import { memoryTrend } from './report.cjs';

/** @typedef {import('./lib.mjs').Say} Say */
/** @typedef {import('./lib.mjs').Counters} Counters */
/** @typedef {import('./soak-clients.mjs').SoakTenant} SoakTenant */
/** @typedef {import('./soak-clients.mjs').Answered} Answered */
/** @typedef {import('./soak-clients.mjs').Stats} ClientStats */
/** @typedef {import('./soak-clients.mjs').Final} ClientFinal */
/** @typedef {{ residentBytes: number, heapBytes: number, streams: number }} Memory The resolver's memory and its open streams. */
/**
 * A sample of the soak, every 10 s: when (s since the writes began), the resolver's memory, streams,
 * streams closed by reason and refused since the start, the system's TCP sockets, writes answered
 * and the clients' counts.
 * @typedef {Memory & { t: number, closed: Counters, refused: number, tcp: ReturnType<typeof tcpSockstat>, writes: number, clients: ClientStats }} Sample
 */

const SAMPLE_MS = 10_000;
/** A delivery later than this after its write's answer counts as missing (soak-clients.mjs). */
export const DELIVERY_GRACE_MS = 30_000;
/** Routes each soak tenant's writes cycle through. */
const ROUTES_PER_TENANT = 20;

/** The system's TCP sockets (/proc/net/sockstat): in use, orphaned, TIME_WAIT, and their memory in bytes. */
export function tcpSockstat() {
  try {
    const line = readFileSync('/proc/net/sockstat', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('TCP:'));
    /** @param {string} name */
    const field = (name) => Number(new RegExp(`\\b${name} (\\d+)`).exec(line ?? '')?.[1] ?? NaN);
    return { inuse: field('inuse'), orphan: field('orphan'), timeWait: field('tw'), memoryBytes: field('mem') * pageSize() };
  } catch {
    return undefined;
  }
}

/** @type {number | undefined} */
let page;
function pageSize() {
  try {
    page ??= Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()) || 4096;
  } catch {
    page = 4096;
  }
  return page;
}

/**
 * The resolver's memory once streams have opened: the median resident size of `n` scrapes a second
 * apart, and the smallest used heap among them (the closest to what is live: garbage of the opening
 * waits for a collection).
 * @param {(url: string) => Promise<string>} scrape
 * @param {string} resolver
 * @returns {Promise<Memory>}
 */
async function settledMemory(scrape, resolver, n = 5) {
  /** @type {Memory[]} */
  const taken = [];
  for (let i = 0; i < n; i++) {
    if (i) await sleep(1_000);
    const text = await scrape(resolver);
    taken.push({ ...processMemory(text), streams: gaugeOf(text, 'tm_resolver_watch_streams') });
  }
  const resident = taken.map((t) => t.residentBytes).sort((a, b) => a - b)[Math.floor(n / 2)];
  return { residentBytes: resident, heapBytes: Math.min(...taken.map((t) => t.heapBytes)), streams: taken[taken.length - 1].streams };
}

/**
 * Waits until the resolver's stream gauge reaches `streams`; the gauge.
 * @param {(url: string) => Promise<string>} scrape
 * @param {string} resolver
 * @param {number} streams
 * @param {number} timeoutMs
 * @param {() => boolean} shouldStop
 */
async function streamsReach(scrape, resolver, streams, timeoutMs, shouldStop) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = gaugeOf(await scrape(resolver), 'tm_resolver_watch_streams');
    if (open >= streams || Date.now() > deadline || shouldStop()) return open;
    await sleep(500);
  }
}

/**
 * The soak. `streams` streams over `tenantCount` tenants (each with its own key), `nonReaders` of
 * them never read; then `rate` writes per second for `minutes`. The resolver's memory is taken in
 * steps as the streams open (and once the first round of non-readers has been cut), and sampled
 * every 10 s during the writes.
 * @param {{ api: string, resolver: string, token: string, tenant: string, tenantCount: number, streams: number, nonReaders: number, rate: number, minutes: number, logFile: string, scrape: (url: string) => Promise<string>, shouldStop: () => boolean, say: Say }} options
 */
export async function watchSoak({ api, resolver, token, tenant, tenantCount, streams, nonReaders, rate, minutes, logFile, scrape, shouldStop, say }) {
  const perTenant = streams / tenantCount;
  const nonReadersPerTenant = nonReaders / tenantCount;
  const readersPerTenant = perTenant - nonReadersPerTenant;
  const slugs = Array.from({ length: tenantCount }, (_, i) => `${tenant}-s${i}`);
  say(`watch-soak: ${tenantCount} tenants, each with one route and a key of its own (routes:read)`);
  /** @type {Array<SoakTenant & { id: string }>} its slug, its key and the key's id (to delete it); a hole where the creation failed */
  const tenants = new Array(tenantCount);
  await pool(tenantCount, 10, async (i) => {
    await putRoute(api, token, `${slugs[i]}/svc/seed`, 'https://seed.bench.internal/');
    tenants[i] = { slug: slugs[i], ...(await createKey(api, token, { name: `bench soak ${slugs[i]}`, tenant: slugs[i], scopes: ['routes:read'] })) };
  });
  /** @type {Array<Memory & { label: string }>} */
  const steps = [];
  /**
   * @param {string} label
   * @param {Memory} m
   */
  const step = (label, m) => {
    steps.push({ label, residentBytes: m.residentBytes, heapBytes: m.heapBytes, streams: m.streams });
    say(`  ${label}: ${m.streams} streams, resident ${mb(m.residentBytes)}, heap ${mb(m.heapBytes)}`);
  };
  const before = await scrape(resolver);
  const base = gaugeOf(before, 'tm_resolver_watch_streams');
  step('before the soak streams', await settledMemory(scrape, resolver));

  const clients = forkClients(join(import.meta.dirname, 'soak-clients.mjs'), [], logFile);
  try {
    const readers = readersPerTenant * tenantCount;
    say(`watch-soak: opening ${readers} readers (${readersPerTenant} per tenant, at most 100 snapshots at once)`);
    const openStarted = performance.now();
    clients.send({ open: { resolver, tenants: tenants.map(({ slug, key }) => ({ slug, key })), readersPerTenant, nonReadersPerTenant, graceMs: DELIVERY_GRACE_MS } });
    await clients.next((m) => m.readers !== undefined, 15 * 60_000);
    const readersOpenSeconds = (performance.now() - openStarted) / 1000;
    await streamsReach(scrape, resolver, base + readers, 30_000, shouldStop);
    await sleep(2_000);
    step(`${readers} readers open`, await settledMemory(scrape, resolver));

    say(`watch-soak: opening ${nonReaders} non-readers (${nonReadersPerTenant} per tenant: the request sent, nothing ever read)`);
    clients.send({ openNonReaders: true });
    const connected = /** @type {number} */ ((await clients.next((m) => m.nonReaders !== undefined, 5 * 60_000)).nonReaders);
    const reached = await streamsReach(scrape, resolver, base + readers + nonReaders, 120_000, shouldStop);
    if (reached < base + readers + nonReaders) say(`  only ${reached - base} of ${readers + nonReaders} streams open on the resolver`);
    await sleep(2_000);
    step(`${nonReaders} non-readers open too`, await settledMemory(scrape, resolver));

    const [reader0, reader1, nonReader1] = steps;
    const perStream = {
      reader: { residentBytes: Math.round((reader1.residentBytes - reader0.residentBytes) / readers), heapBytes: Math.round((reader1.heapBytes - reader0.heapBytes) / readers) },
      nonReader: { residentBytes: Math.round((nonReader1.residentBytes - reader1.residentBytes) / nonReaders), heapBytes: Math.round((nonReader1.heapBytes - reader1.heapBytes) / nonReaders) },
    };
    say(`  per stream: reader ${kib(perStream.reader.residentBytes)} resident, ${kib(perStream.reader.heapBytes)} heap; non-reader ${kib(perStream.nonReader.residentBytes)} resident, ${kib(perStream.nonReader.heapBytes)} heap`);

    // The soak: writes at `rate` per second, open loop, for `minutes`; a sample every 10 s.
    say(`watch-soak: ${rate} writes per second across the ${tenantCount} tenants for ${minutes} min; a sample every ${SAMPLE_MS / 1000} s`);
    const soakStart = performance.now();
    const soakMs = minutes * 60_000;
    const atSoakStart = await scrape(resolver);
    const closedAtStart = countersBy(atSoakStart, 'tm_resolver_watch_streams_closed_total', 'reason');
    const refusedBefore = sumOf(before, 'tm_resolver_watch_streams_refused_total');
    /** @type {{ ok: number, failed: number, firstFailure: string | undefined }} */
    const writes = { ok: 0, failed: 0, firstFailure: undefined };
    /** @type {Set<Promise<void>>} */
    const inFlight = new Set();
    /** @type {Answered[]} */
    let answered = [];
    const flush = () => {
      if (answered.length) clients.send({ answers: answered });
      answered = [];
    };
    const flusher = setInterval(flush, 500);
    /** @type {Sample[]} */
    const samples = [];
    /** @type {Sample | undefined} */
    let firstCuts;
    const sample = async () => {
      const text = await scrape(resolver);
      clients.send({ stats: true });
      const stats = /** @type {ClientStats} */ ((await clients.next((m) => m.stats, 30_000)).stats);
      /** @type {Sample} */
      const s = {
        t: Math.round((performance.now() - soakStart) / 100) / 10,
        ...processMemory(text),
        streams: gaugeOf(text, 'tm_resolver_watch_streams'),
        closed: delta(closedAtStart, countersBy(text, 'tm_resolver_watch_streams_closed_total', 'reason')),
        refused: sumOf(text, 'tm_resolver_watch_streams_refused_total') - refusedBefore,
        tcp: tcpSockstat(),
        writes: writes.ok,
        clients: stats,
      };
      samples.push(s);
      const w = stats.window;
      say(
        `  ${formatT(s.t)}: resident ${mb(s.residentBytes)}, heap ${mb(s.heapBytes)}, ${s.streams} streams (${stats.readersOpen} readers, ${stats.nonReadersOpen} non-readers), ` +
          `${stats.cuts} cuts, ${s.writes} writes, delivery p99 ${w.p99 === null ? '–' : `${Math.round(w.p99)} ms`}, TCP memory ${s.tcp ? mb(s.tcp.memoryBytes) : '–'}`,
      );
      if (firstCuts === undefined && stats.cuts >= nonReaders) {
        firstCuts = s;
        step(`after the first cuts of non-readers (${stats.cuts} cut and reopened, at ${formatT(s.t)} of writes)`, s);
      }
    };
    await sample();
    let sampling = Promise.resolve();
    const sampler = setInterval(() => {
      sampling = sampling.then(sample).catch((e) => say(`  sample failed: ${e.message}`));
    }, SAMPLE_MS);
    const run = Date.now().toString(36);
    const { late } = await steadyRate(rate, () => performance.now() - soakStart < soakMs && !shouldStop(), (i) => {
      const t = i % tenantCount;
      const route = `${slugs[t]}/svc/r${Math.floor(i / tenantCount) % ROUTES_PER_TENANT}`;
      const p = putRoute(api, token, route, `https://s${i}-${run}.bench.internal/`).then(
        (revision) => {
          writes.ok++;
          answered.push([revision, t, performance.timeOrigin + performance.now()]);
        },
        (e) => {
          writes.failed++;
          writes.firstFailure ??= e.message;
        },
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    });
    const writingSeconds = (performance.now() - soakStart) / 1000;
    await Promise.all(inFlight);
    clearInterval(sampler);
    await sampling;
    await sample();
    clearInterval(flusher);
    flush();
    // The last writes' deliveries: counted once their grace has passed.
    await sleep(DELIVERY_GRACE_MS + 1_000);
    clients.send({ finish: true });
    const final = /** @type {ClientFinal} */ ((await clients.next((m) => m.final, 60_000)).final);
    const trend = memoryTrend(samples);
    const judged = 'risePercent' in trend ? `${trend.risePercent}% from the second half's first ${trend.collections ? 'floor' : 'sample'} to its last, bound ${trend.boundPercent}%` : undefined;
    say(`  resident memory: ${trend.verdict ?? 'not judged'} (${trend.reason ?? judged})`);
    const last = samples[samples.length - 1];
    return {
      streams,
      readers,
      nonReaders,
      tenants: tenantCount,
      streamsPerTenant: perTenant,
      ratePerSecond: rate,
      minutes,
      sampleSeconds: SAMPLE_MS / 1000,
      readersOpenSeconds: Math.round(readersOpenSeconds),
      nonReadersConnected: connected,
      memorySteps: steps,
      perStream,
      memory: trend,
      heap: memoryTrend(samples, 'heapBytes'),
      writes: { ...writes, perSecond: Math.round((writes.ok / writingSeconds) * 10) / 10, lateStarts: late },
      closed: last.closed,
      refused: last.refused,
      cuts: final.cuts,
      reopens: final.reopens,
      readerReconnects: final.readerReconnects,
      delivery: { deliveries: final.deliveries, missing: final.missing, late: final.late, unanswered: final.unanswered, graceSeconds: DELIVERY_GRACE_MS / 1000, ms: final.ms },
      samples,
    };
  } finally {
    clients.kill();
    for (const { id } of tenants.filter(Boolean)) await deleteKey(api, token, id);
  }
}

const mb = (/** @type {number} */ bytes) => (Number.isFinite(bytes) ? `${(bytes / 1e6).toFixed(1)} MB` : '–');
const kib = (/** @type {number} */ bytes) => (Number.isFinite(bytes) ? `${(bytes / 1024).toFixed(1)} KiB` : '–');
const formatT = (/** @type {number} */ s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
