// Pure functions of the bench: quantiles of raw samples, the goals, and the results rendered as a
// Markdown table and an SVG chart. No I/O, no packages: tools/bench/report.spec.ts tests them.
// CommonJS (the other bench files are ESM) so that jest, which runs CommonJS here, can load it.
'use strict';

/**
 * A part of the results JSON (the whole, a phase, a sample): `any` by design. run.mjs builds it phase
 * by phase and render.mjs reads it back from the files of earlier runs, which may lack what later
 * runs add, so the renderers check what they read (`?.`, `??`) rather than trust a type.
 * @typedef {Record<string, any>} Json
 */
/** @typedef {Array<[number, number | null]>} Distribution [percentile, ms] pairs, ms null when there were no samples. */
/**
 * One goal of the bench, as evaluateGoals reports it.
 * @typedef {{ id: string, short: string, label: string, target: string, measured: string, brief?: string, met: boolean | null }} Goal
 */

/** Percentiles kept per load phase for the latency chart (100 is the maximum). */
const DISTRIBUTION_PERCENTILES = [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100];

/** The load phases, in the order they run and are shown. */
const LOAD_PHASES = [
  { key: 'floor', label: 'floor: Node http, a constant body of the same size', short: 'Node floor', color: '#9ca3af' },
  { key: 'baseline', label: 'baseline: bare Fastify, same body and auth check', short: 'bare Fastify', color: '#6b7280' },
  { key: 'hits', label: 'resolver, cache hits', short: 'hits', color: '#2563eb' },
  { key: 'etcdRange', label: 'etcd 3.4: serializable range of one key over its JSON gateway', short: 'etcd range', color: '#0d9488' },
  { key: 'database', label: 'resolver, database path', short: 'database', color: '#d97706' },
  { key: 'bypass', label: 'resolver, Redis down (bypass)', short: 'Redis down', color: '#7c3aed' },
  { key: 'writes', label: 'writes: PUT', short: 'writes (PUT)', color: '#059669' },
];

const GOALS = {
  /** Hits' requests per second at least this share of bare Fastify's (the baseline), in the same run. */
  hitsShareOfBaseline: 0.9,
  /** Hits' p99 at most this multiple of bare Fastify's. */
  hitsP99OfBaseline: 1.2,
  /** Hits' requests per second at least this multiple of etcd's serializable range. */
  hitsOverEtcdRange: 3,
  hitsConnections: 50,
  cores: 2,
  convergenceP99Ms: 50,
  watchP99Ms: 50,
  /** The stream count of the watch's absolute goal (p99 under watchP99Ms)... */
  watchStreams: 1_000,
  /** ...and of its goal against etcd (p99 below etcd's watch p99, same streams, same run). */
  watchEtcdStreams: 10_000,
  sdkLookupsPerSecond: 5_000_000,
  sdkLookupP99Ns: 2_000,
  putsPerSecond: 500,
  /** The share of hit throughput a 4-endpoint route's selection may cost. */
  policyCostPercent: 10,
};

/**
 * Nearest-rank percentile (p from 0 to 100) of ascending samples; NaN when there are none.
 * @param {ArrayLike<number>} sorted
 * @param {number} p
 * @returns {number}
 */
function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  if (p <= 0) return sorted[0];
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** @param {number} x */
const round3 = (x) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null);

/**
 * p50/p90/p99/p99.9/max and the distribution (for the chart) of latencies in ms, in any order.
 * @param {ArrayLike<number>} values
 */
function summarizeLatencies(values) {
  const sorted = Float64Array.from(values).sort();
  /** @param {number} p */
  const at = (p) => round3(percentile(sorted, p));
  return {
    samples: sorted.length,
    latencyMs: { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: at(100) },
    distribution: DISTRIBUTION_PERCENTILES.map((p) => [p, at(p)]),
  };
}

/**
 * A wrk run as the bench keeps it (the same fields as the other load phases'), from the JSON the
 * script (tools/bench/wrk.lua) prints: latencies from wrk's histogram (µs, made ms), 2xx and other
 * answers as the script counted them, socket errors, and the CPU the generator and, when read, the
 * server used over the measured run, as seconds and as a share of one core.
 * @param {Json} raw
 * @param {{ connections: number, clockTicks: number, serverCpuSeconds?: number }} options
 */
function summarizeWrk(raw, { connections, clockTicks, serverCpuSeconds = NaN }) {
  const seconds = raw.durationUs / 1e6;
  /** @type {Distribution} */
  const distribution = raw.latencyUs.map((/** @type {[number, number]} */ [p, us]) => [p, raw.requests > 0 ? round3(us / 1000) : null]);
  /** @param {number} p */
  const at = (p) => distribution.find(([q]) => q === p)?.[1] ?? null;
  /** @param {number} cpu */
  const share = (cpu) => (Number.isFinite(cpu) && cpu >= 0 ? { seconds: round3(cpu), shareOfCore: round3(cpu / seconds) } : null);
  const e = raw.errors;
  return {
    generator: 'wrk',
    connections,
    durationSeconds: round3(seconds),
    requests: raw.requests,
    ok: raw.ok,
    requestsPerSecond: Math.round(raw.ok / seconds),
    non2xx: raw.non2xx,
    errors: e.connect + e.read + e.write,
    timeouts: e.timeout,
    /** @type {Record<string, number>} */
    statuses: raw.statuses,
    samples: raw.requests,
    latencyMs: { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: at(100) },
    distribution,
    generatorCpu: share(raw.cpuTicks >= 0 ? raw.cpuTicks / clockTicks : NaN),
    serverCpu: share(serverCpuSeconds),
  };
}

/**
 * The share of the machine's CPU time that was busy (not idle nor waiting for I/O) between two
 * readings of /proc/stat, from their `cpu` lines; null when either has none.
 * @param {string} before
 * @param {string} after
 */
function cpuBusyShare(before, after) {
  /** @param {string} text */
  const totals = (text) => {
    const line = text.split('\n').find((l) => l.startsWith('cpu '));
    if (!line) return null;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest times are inside user and nice).
    const all = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { all, idle: v[3] + (v[4] ?? 0) };
  };
  const [a, b] = [totals(before), totals(after)];
  if (!a || !b || b.all <= a.all) return null;
  return round3(1 - (b.idle - a.idle) / (b.all - a.all));
}

/** Above this share of the machine busy while the bench's servers were idle, a phase is measured on a machine that was not quiet. */
const QUIET_BUSY_SHARE = 0.15;

/**
 * The figures that matter, each as a ratio to its peer in the same run (null where either side was
 * not measured): bare Fastify / the Node floor; hits / bare Fastify (requests per second, and p99);
 * probed 4-endpoint hits / bare Fastify and / single-URL hits; hits / etcd's range; and, per stream
 * count, our watch p99 / etcd's.
 * @param {Json} results
 */
function peerRatios(results) {
  const p = results.phases ?? {};
  /** @param {number | null | undefined} a @param {number | null | undefined} b */
  const ratio = (a, b) => (typeof a === 'number' && typeof b === 'number' && b > 0 ? Math.round((a / b) * 1000) / 1000 : null);
  const policy = results.policyHits?.policy;
  const single = results.policyHits?.single;
  /** @type {Json[]} */
  const ours = results.watchRuns ?? (results.watch ? [results.watch] : []);
  /** @type {Json[]} */
  const etcd = results.etcdWatch ?? [];
  const counts = [...new Set([...ours, ...etcd].map((w) => w.streams))].sort((a, b) => a - b);
  return {
    fastifyOfFloor: ratio(p.baseline?.requestsPerSecond, p.floor?.requestsPerSecond),
    hitsOfFastify: ratio(p.hits?.requestsPerSecond, p.baseline?.requestsPerSecond),
    hitsP99OfFastify: ratio(p.hits?.latencyMs.p99, p.baseline?.latencyMs.p99),
    hitsOfEtcd: ratio(p.hits?.requestsPerSecond, p.etcdRange?.requestsPerSecond),
    probedOfFastify: ratio(policy?.requestsPerSecond, p.baseline?.requestsPerSecond),
    probedOfSingle: ratio(policy?.requestsPerSecond, single?.requestsPerSecond),
    probedOfEtcd: ratio(policy?.requestsPerSecond, p.etcdRange?.requestsPerSecond),
    etcdOfFastify: ratio(p.etcdRange?.requestsPerSecond, p.baseline?.requestsPerSecond),
    watch: counts.map((streams) => {
      const [o, e] = [ours.find((w) => w.streams === streams), etcd.find((w) => w.streams === streams)];
      return { streams, ours: o, etcd: e, p99OfEtcd: ratio(o?.ms.p99, e?.ms.p99) };
    }),
  };
}

/**
 * The soak's rule for "flat". Resident memory follows the heap, and under the soak's load the heap's
 * collections swing it by hundreds of MB every minute or two (the first full run: between about 300
 * and 700 MB), so a slope through the samples says where the collections fell, not where memory
 * goes (that run's second half: -1,873 MB/h). What a leak raises is the level memory comes back to
 * after a collection. So, over the second half of the samples (the first lets what fills once fill:
 * the watch's memory of the last 5 minutes of changes, 30,000 at 100 writes per second):
 * - a collection shows as the used heap falling `collectionDropPercent` or more from one sample to
 *   the next; the sample after it is a floor;
 * - two floors or more: flat when the last is at most `risePercent` above the first;
 * - no collection at all: memory moves by a few MB; flat when the last sample is at most
 *   `quietRisePercent` above the first;
 * - one floor (nothing to compare it with), or fewer than `minSamples` samples: not judged.
 * Why 20%: in that run the floors of the second half read 409, 467 and 340 MB (±16% around their
 * mean), a sample falling up to 10 s after its collection and V8 keeping part of what it freed.
 */
const SOAK_RULE = { risePercent: 20, quietRisePercent: 5, collectionDropPercent: 25, minSamples: 6 };

/**
 * Least-squares slope of y over x ([[x, y], ...]); NaN with fewer than two distinct x.
 * @param {Array<[number, number]>} points
 */
function leastSquaresSlope(points) {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxx === 0 ? NaN : sxy / sxx;
}

/** @param {number} x */
const round1 = (x) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : null);

/** The rule in words, for the report. */
function soakRuleText(rule = SOAK_RULE) {
  return (
    `flat: over the second half, the last floor (the sample after a collection: the used heap falling ${rule.collectionDropPercent}% or more) ` +
    `at most ${rule.risePercent}% above the first; without collections, the last sample at most ${rule.quietRisePercent}% above the first; ` +
    'one floor only: not judged'
  );
}

/**
 * The trend of one memory series of the soak's samples ({t: seconds, heapBytes, [key]: bytes}):
 * start, end, max; over the second half the two points SOAK_RULE compares (`from`, `to`: the first
 * and last floors, or the first and last samples when no collection shows), how far the second is
 * above the first, and the collections seen; the least-squares slope of the second half (MB per
 * hour, 1 MB = 10^6 bytes: for information); `verdict` "flat" or "growing", or null with the `reason`.
 * @param {Json[] | undefined} samples
 * @param {string} [key]
 * @param {typeof SOAK_RULE} [rule]
 */
function memoryTrend(samples, key = 'residentBytes', rule = SOAK_RULE) {
  const series = (samples ?? []).filter((s) => Number.isFinite(s[key]) && Number.isFinite(s.t));
  const base = { key, samples: series.length, rule: soakRuleText(rule) };
  if (series.length === 0) return { ...base, verdict: null, reason: 'no samples' };
  const last = series[series.length - 1];
  const first = series.findIndex((s) => s.t >= last.t / 2);
  const half = series.slice(first);
  const floors = half.filter((s, i) => {
    const before = series[first + i - 1];
    return before !== undefined && s.heapBytes <= before.heapBytes * (1 - rule.collectionDropPercent / 100);
  });
  /** @param {Json | undefined} s */
  const point = (s) => (s ? { t: s.t, bytes: s[key] } : null);
  const [from, to] = floors.length === 0 ? [half[0], last] : [floors[0], floors[floors.length - 1]];
  const risePercent = ((to[key] - from[key]) / from[key]) * 100;
  const bound = floors.length === 0 ? rule.quietRisePercent : rule.risePercent;
  let verdict = null;
  let reason;
  if (half.length < rule.minSamples) reason = `${half.length} samples in the second half, fewer than ${rule.minSamples}`;
  else if (floors.length === 1) reason = 'one collection in the second half: nothing to compare its floor with';
  else verdict = risePercent <= bound ? 'flat' : 'growing';
  return {
    ...base,
    startBytes: series[0][key],
    endBytes: last[key],
    maxBytes: Math.max(...series.map((s) => s[key])),
    secondHalfFromSeconds: half[0].t,
    collections: floors.length,
    from: point(from),
    to: floors.length === 1 ? null : point(to),
    risePercent: floors.length === 1 ? null : round1(risePercent),
    boundPercent: bound,
    slopeMBPerHour: round1(leastSquaresSlope(half.map((s) => [s.t / 3600, s[key] / 1e6]))),
    verdict,
    ...(reason ? { reason } : {}),
  };
}

/**
 * Goals of the benchmark issue: measured, never asserted. `met` is null when not measured.
 * @param {Json} results
 * @returns {Goal[]}
 */
function evaluateGoals(results) {
  const { hits, baseline, writes, etcdRange } = results.phases ?? {};
  const convergence = results.convergence;
  const connections = results.settings?.connections;
  const cores = results.machine?.cores;
  const r = peerRatios(results);
  const convergenceP99 = convergence?.ms.p99;
  const puts = writes?.requestsPerSecond;
  const conditions =
    connections !== GOALS.hitsConnections || cores !== GOALS.cores
      ? ` (goal set for ${GOALS.hitsConnections} connections on ${GOALS.cores} cores; measured with ${connections} on ${cores})`
      : '';
  /** @type {Json[]} */
  const ours = results.watchRuns ?? (results.watch ? [results.watch] : []);
  const watchAt = ours.find((w) => w.streams === GOALS.watchStreams);
  const times = (/** @type {number | null} */ x) => (x === null ? 'not measured' : `${x.toFixed(2)}×`);
  return [
    {
      id: 'hits-share',
      short: 'hits / bare Fastify',
      label: `resolver cache hits: requests per second, share of bare Fastify's (same body, same check, same run)${conditions}`,
      target: `≥ ${GOALS.hitsShareOfBaseline}`,
      measured: r.hitsOfFastify === null ? 'not measured' : `${r.hitsOfFastify.toFixed(2)} (${formatCount(hits.requestsPerSecond)} / ${formatCount(baseline.requestsPerSecond)} req/s)`,
      brief: r.hitsOfFastify === null ? undefined : r.hitsOfFastify.toFixed(2),
      met: r.hitsOfFastify === null ? null : r.hitsOfFastify >= GOALS.hitsShareOfBaseline,
    },
    {
      id: 'hits-p99',
      short: 'hits p99 / bare Fastify',
      label: `resolver cache hits: p99 at ${connections} connections against bare Fastify's p99${conditions}`,
      target: `≤ ${GOALS.hitsP99OfBaseline}×`,
      measured: r.hitsP99OfFastify === null ? 'not measured' : `${times(r.hitsP99OfFastify)} (${formatMs(hits.latencyMs.p99)} / ${formatMs(baseline.latencyMs.p99)})`,
      brief: r.hitsP99OfFastify === null ? undefined : times(r.hitsP99OfFastify),
      met: r.hitsP99OfFastify === null ? null : r.hitsP99OfFastify <= GOALS.hitsP99OfBaseline,
    },
    {
      id: 'hits-etcd',
      short: 'hits / etcd range',
      label: "resolver cache hits: requests per second against etcd's serializable range of one key (its JSON gateway, same run)",
      target: `≥ ${GOALS.hitsOverEtcdRange}×`,
      measured: r.hitsOfEtcd === null ? 'not measured' : `${times(r.hitsOfEtcd)} (${formatCount(hits.requestsPerSecond)} / ${formatCount(etcdRange.requestsPerSecond)} req/s)`,
      brief: r.hitsOfEtcd === null ? undefined : times(r.hitsOfEtcd),
      met: r.hitsOfEtcd === null ? null : r.hitsOfEtcd >= GOALS.hitsOverEtcdRange,
    },
    {
      id: 'convergence-p99',
      short: 'convergence p99',
      label: 'convergence: p99 from a write’s answer to the resolver answering its revision',
      target: `< ${GOALS.convergenceP99Ms} ms`,
      measured: convergenceP99 === undefined ? 'not measured' : `${formatMs(convergenceP99)}${convergenceTrouble(convergence)}`,
      met: convergenceP99 === undefined ? null : convergenceP99 < GOALS.convergenceP99Ms && !convergenceTrouble(convergence),
    },
    {
      id: 'watch-p99',
      short: 'watch p99',
      label: `watch: p99 from a write’s answer to its event at a client, ${formatCount(GOALS.watchStreams)} streams on one resolver`,
      target: `< ${GOALS.watchP99Ms} ms`,
      measured: watchAt === undefined ? 'not measured' : `${formatMs(watchAt.ms.p99)}${watchAt.missing ? ` (${watchAt.missing} missing)` : ''}`,
      met: watchAt === undefined ? null : watchAt.ms.p99 < GOALS.watchP99Ms && watchAt.missing === 0,
    },
    watchEtcdGoal(r.watch.find((w) => w.streams === GOALS.watchEtcdStreams)),
    {
      id: 'sdk-lookups',
      short: 'SDK lookups',
      label: 'SDK: in-process lookups per second on one core, and their p99',
      target: `≥ ${formatCount(GOALS.sdkLookupsPerSecond)}/s, p99 < ${GOALS.sdkLookupP99Ns / 1000} µs`,
      measured: results.sdk === undefined ? 'not measured' : `${formatCount(results.sdk.lookups.perSecond)}/s, p99 ${results.sdk.lookups.p99Ns} ns`,
      met: results.sdk === undefined ? null : results.sdk.lookups.perSecond >= GOALS.sdkLookupsPerSecond && results.sdk.lookups.p99Ns < GOALS.sdkLookupP99Ns,
    },
    {
      id: 'policy-cost',
      short: 'selection cost',
      label: 'resolver cache hits: throughput lost on routes of 4 probed endpoints against single-URL routes',
      target: `< ${GOALS.policyCostPercent}%`,
      measured: results.policyHits === undefined ? 'not measured' : `${results.policyHits.costPercent}%`,
      met: results.policyHits === undefined ? null : results.policyHits.costPercent < GOALS.policyCostPercent,
    },
    failoverGoal(results.failover, 'resolver', 'failover-resolver', 'failover: primary stopped → every resolver answer picks the backup, p99'),
    failoverGoal(results.failover, 'sdk', 'failover-sdk', "failover: primary stopped → the SDK's memory answer picks the backup, p99"),
    {
      id: 'writes',
      short: 'writes',
      label: `writes: PUTs per second with ${writes?.connections ?? 20} concurrent clients`,
      target: `≥ ${GOALS.putsPerSecond} PUT/s`,
      measured: puts === undefined ? 'not measured' : `${formatCount(puts)} PUT/s`,
      met: puts === undefined ? null : puts >= GOALS.putsPerSecond,
    },
    soakGoal(results.watchSoak),
    honestHealthGoal(results.proberHostile),
    ...noisyGoals(results.noisyNeighbour),
  ];
}

/**
 * The watch against etcd's at the same stream count: our delivery p99 below etcd's, nothing missing.
 * @param {Json | undefined} w one of peerRatios' watch entries
 * @returns {Goal}
 */
function watchEtcdGoal(w) {
  const base = {
    id: 'watch-etcd',
    short: 'watch p99 / etcd',
    label: `watch: delivery p99 against etcd's watch p99, ${formatCount(GOALS.watchEtcdStreams)} streams each, the same writes per second (same run)`,
    target: "< 1× (below etcd's)",
  };
  if (!w?.ours || !w.etcd || w.p99OfEtcd === null) return { ...base, measured: 'not measured', met: null };
  return {
    ...base,
    // Deliveries missing on either side are named: a p99 over the deliveries that came flatters a side that lost some.
    measured:
      `${w.p99OfEtcd.toFixed(2)}× (${formatMs(w.ours.ms.p99)} / ${formatMs(w.etcd.ms.p99)})` +
      `${w.ours.missing ? `, ours ${formatCount(w.ours.missing)} missing` : ''}${w.etcd.missing ? `, etcd ${formatCount(w.etcd.missing)} missing` : ''}`,
    brief: `${w.p99OfEtcd.toFixed(2)}×`,
    met: w.p99OfEtcd < 1 && w.ours.missing === 0,
  };
}

/**
 * B's requests refused (any answer not 2xx) or failed, of one stage of the noisy-neighbour phase.
 * @param {Json} s
 */
const noisyRefused = (s) => s.resolve.refused + s.other.refused;
/** @param {Json} s */
const noisyRequests = (s) => s.resolve.requests + s.other.requests;

/**
 * The noisy-neighbour phase's goals (the issue's: B never refused, every event arrives, no verdict
 * lapses, the failover happens), each with A beside B and, in parentheses, without A; met when it
 * holds in both stages.
 * @param {Json | undefined} n
 * @returns {Goal[]}
 */
function noisyGoals(n) {
  const goals = [
    { id: 'noisy-refused', short: 'B refused', what: "tenant B's requests refused (any answer not 2xx: a 429 or 503 is a failure of isolation) or failed", target: '0' },
    { id: 'noisy-events', short: 'B events', what: "tenant B's watch events that did not arrive", target: '0' },
    { id: 'noisy-health', short: 'B health', what: "tenant B's endpoints whose health left healthy (a verdict lapsed)", target: '0' },
    { id: 'noisy-failover', short: 'B failover', what: "tenant B's failover: a primary stopped, the resolver's answer picks the backup", target: 'every trial' },
  ];
  if (n === undefined) return goals.map(({ what, ...g }) => ({ ...g, label: `noisy neighbour: ${what}`, measured: 'not measured', met: null }));
  const [without, withA] = n.stages;
  /** @type {Record<string, (s: Json) => { brief: string, full: string, met: boolean | null }>} */
  const figures = {
    'noisy-refused': (s) => ({ brief: formatCount(noisyRefused(s)), full: `${formatCount(noisyRefused(s))} of ${formatCount(noisyRequests(s))}`, met: noisyRefused(s) === 0 }),
    'noisy-events': (s) => ({ brief: formatCount(s.watch.missing), full: `${formatCount(s.watch.missing)} of ${formatCount(s.watch.writes)}`, met: s.watch.missing === 0 && s.watch.writes > 0 }),
    'noisy-health': (s) => ({
      brief: s.health.polls ? formatCount(s.health.leftHealthy) : 'not read',
      full: s.health.polls ? `${s.health.leftHealthy} of ${s.health.endpoints}` : 'not read',
      met: s.health.polls ? s.health.leftHealthy === 0 : null,
    }),
    'noisy-failover': (s) => {
      const done = s.failover.trials - s.failover.missed;
      return {
        brief: `${done} of ${s.failover.trials}`,
        full: `${done} of ${s.failover.trials} trials${s.failover.trials ? `, p50 ${formatMs(s.failover.ms.p50)}, max ${formatMs(s.failover.ms.max)}` : ''}`,
        met: s.failover.trials > 0 && s.failover.missed === 0,
      };
    },
  };
  return goals.map(({ what, ...g }) => {
    const [w, o] = [figures[g.id](withA), figures[g.id](without)];
    return {
      ...g,
      label: `noisy neighbour: ${what}, beside tenant A at every limit (and without A)`,
      measured: `${w.full} with A (${o.full} without)`,
      brief: `${w.brief} with A (${o.brief} without)`,
      met: w.met === null || o.met === null ? null : w.met && o.met,
    };
  });
}

/**
 * "the floors after the collections at 5:22 and 9:23: 409.1 MB → 340.4 MB (-16.8%, bound 20%)"
 * @param {Json} m
 */
function comparedLine(m) {
  if (!m.from || !m.to) return m.collections === 1 ? `one collection (${formatClock(m.from?.t ?? 0)}), ${formatMB(m.from?.bytes)} after it` : 'nothing compared';
  const what = m.collections > 0 ? `the floors after the collections at ${formatClock(m.from.t)} and ${formatClock(m.to.t)}` : `no collection: ${formatClock(m.from.t)} and ${formatClock(m.to.t)}`;
  return `${what}: ${formatMB(m.from.bytes)} → ${formatMB(m.to.bytes)} (${signed(m.risePercent)}%, bound ${m.boundPercent}%)`;
}

/**
 * The soak's goal: the resolver's resident memory flat (SOAK_RULE).
 * @param {Json | undefined} w
 * @returns {Goal}
 */
function soakGoal(w) {
  const id = 'soak-memory';
  const short = 'soak memory';
  const target = `flat (the second half's last floor ≤ ${SOAK_RULE.risePercent}% above its first)`;
  if (w === undefined) return { id, short, label: "watch soak: the resolver's resident memory", target, measured: 'not measured', met: null };
  const m = w.memory;
  return {
    id,
    short,
    label: `watch soak: the resolver's resident memory, ${formatCount(w.streams)} streams (${formatCount(w.nonReaders)} never reading), ${w.ratePerSecond} writes/s for ${w.minutes} min`,
    target,
    measured: `${m.verdict ?? `not judged (${m.reason})`}: ${comparedLine(m)}; ${formatMB(m.startBytes)} at the start, ${formatMB(m.endBytes)} at the end, ${formatMB(m.maxBytes)} at most`,
    // The chart's header has room for less.
    brief: m.from && m.to ? `${m.verdict ?? 'not judged'}, ${formatMB(m.from.bytes)} → ${formatMB(m.to.bytes)} (${signed(m.risePercent)}%)` : (m.verdict ?? 'not judged'),
    met: m.verdict === null ? null : m.verdict === 'flat',
  };
}

/**
 * The prober's goal: no honest endpoint leaves healthy, with or without the hostile tenant.
 * @param {Json | undefined} p
 * @returns {Goal}
 */
function honestHealthGoal(p) {
  const id = 'prober-honest-health';
  const short = 'honest health';
  const target = '0 honest endpoints leave healthy';
  if (p === undefined) return { id, short, label: 'prober: honest endpoints while a hostile tenant’s probes hang', target, measured: 'not measured', met: null };
  /** @type {Json[]} */
  const stages = p.stages;
  /** @type {number[]} */
  const left = stages.map((s) => s.honestLeftHealthy);
  const polled = stages.every((s) => s.healthPolls > 0);
  return {
    id,
    short,
    label: `prober: honest endpoints (${p.honest.endpoints}) that left healthy, without and with a hostile tenant of ${p.hostile.endpoints} endpoints that never answer`,
    target,
    measured: polled ? `${left.join(' and ')} of ${p.honest.endpoints}` : 'not read',
    met: polled ? left.every((n) => n === 0) : null,
  };
}

/** @param {number} x */
const signed = (x) => (x > 0 ? `+${x}` : String(x));

/** @param {number | undefined} bytes */
function formatMB(bytes) {
  return typeof bytes === 'number' && Number.isFinite(bytes) ? `${(bytes / 1e6).toFixed(1)} MB` : '–';
}

/** @param {number | undefined} bytes */
function formatKiB(bytes) {
  return typeof bytes === 'number' && Number.isFinite(bytes) ? `${(bytes / 1024).toFixed(1)} KiB` : '–';
}

/**
 * m:ss
 * @param {number} seconds
 */
function formatClock(seconds) {
  return `${Math.floor(seconds / 60)}:${String(Math.floor(seconds % 60)).padStart(2, '0')}`;
}

/**
 * The failover goal of one kind of answer: p99 within interval × threshold + 100 ms, no trial missed.
 * @param {Json | undefined} f
 * @param {string} kind
 * @param {string} id
 * @param {string} label
 * @returns {Goal}
 */
function failoverGoal(f, kind, id, label) {
  if (f === undefined) return { id, short: id, label, target: 'interval × threshold + 100 ms', measured: 'not measured', met: null };
  const r = f[kind];
  return {
    id,
    short: id,
    label: `${label} (${f.trials} trials, ${f.intervalSeconds} s interval, threshold ${f.threshold}, ${f.probers} probers)`,
    target: `≤ ${formatMs(f.targetMs)}`,
    measured: `${formatMs(r.p99)} (p50 ${formatMs(r.p50)})${r.missed ? `, ${r.missed} missed` : ''}`,
    met: r.p99 <= f.targetMs && r.missed === 0,
  };
}

/**
 * " (N writes never seen, N writes failed)" or ""
 * @param {Json} c
 */
function convergenceTrouble(c) {
  const parts = [];
  if (c.timedOut) parts.push(`${c.timedOut} writes never seen`);
  if (c.failedWrites) parts.push(`${c.failedWrites} writes failed`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

/** @param {number | null | undefined} ms */
function formatMs(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms).toLocaleString('en-US')} ms`;
}

/** @param {number} n */
function formatCount(n) {
  return Math.round(n).toLocaleString('en-US');
}

/** @param {boolean | null} met */
function verdict(met) {
  if (met === null) return 'not measured';
  return met ? '**met**' : '**missed**';
}

/** @param {Json | undefined} cache */
function cacheNote(cache) {
  if (!cache) return '';
  const total = Object.values(cache).reduce((a, b) => a + b, 0);
  if (total === 0) return 'no answers counted by the resolver';
  return Object.entries(cache)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([outcome, n]) => `${outcome} ${((n / total) * 100).toFixed(n === total ? 0 : 1)}%`)
    .join(', ');
}

/**
 * "wrk 0.62 of a core, server 0.99" when the phase's generator (and server) CPU was read.
 * @param {Json} phase
 */
function cpuNote(phase) {
  const g = phase.generatorCpu;
  if (!g) return '';
  return `${phase.generator ?? 'generator'} ${g.shareOfCore.toFixed(2)} of a core${phase.serverCpu ? `, server ${phase.serverCpu.shareOfCore.toFixed(2)}` : ''}`;
}

/** @param {Json} phase */
function errorsNote(phase) {
  const bad = (phase.non2xx ?? 0) + (phase.errors ?? 0) + (phase.timeouts ?? 0);
  return bad === 0 ? '' : `${formatCount(phase.non2xx)} non-2xx, ${formatCount(phase.errors)} errors, ${formatCount(phase.timeouts ?? 0)} timeouts`;
}

/**
 * The one-line description of the machine and the run.
 * @param {Json} results
 */
function machineLine(results) {
  const m = results.machine;
  const git = results.git?.commit ? `commit ${results.git.commit.slice(0, 10)}${results.git.dirty ? ' (with uncommitted changes)' : ''}` : 'commit unknown';
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, ${m.os}, Node ${m.node}, ${git}`;
}

/** @param {Json} results */
function phaseRows(results) {
  const rows = [];
  const p = results.phases ?? {};
  for (const phase of LOAD_PHASES) {
    const r = p[phase.key];
    if (!r) continue;
    const unit = phase.key === 'writes' ? 'PUT/s' : 'req/s';
    let throughput = `${formatCount(r.requestsPerSecond)} ${unit}`;
    if (phase.key !== 'baseline' && phase.key !== 'writes' && p.baseline) {
      throughput += ` (${(r.requestsPerSecond / p.baseline.requestsPerSecond).toFixed(2)} of bare Fastify)`;
    }
    const notes = [r.note, cacheNote(r.cache), errorsNote(r), cpuNote(r)].filter(Boolean).join('; ');
    const label = phase.key === 'writes' ? `${phase.label}, ${r.connections} clients` : r.mode ? `${phase.label} (${r.mode})` : phase.label;
    rows.push([label, throughput, formatMs(r.latencyMs.p50), formatMs(r.latencyMs.p99), formatMs(r.latencyMs.p999), formatMs(r.latencyMs.max), notes]);
    if (phase.key === 'writes' && r.relayPublishMs) {
      rows.push(relayRow('relay publish latency, during the writes', r.relayPublishMs));
    }
    if (phase.key === 'writes' && r.workerApplyMs) rows.push(relayRow('worker apply lag (commit → applied in Redis), during the writes', r.workerApplyMs, 'worker'));
  }
  const c = results.convergence;
  if (c) {
    const failed = c.failedWrites ? `; ${c.failedWrites} PUTs failed` : '';
    const seen = `${formatCount(c.converged)} of ${formatCount(c.writes)} writes seen${c.timedOut ? ` (${c.timedOut} not within ${c.timeoutMs / 1000} s)` : ''}${failed}; resolver polled every ${c.pollMs} ms or 5% of the wait so far`;
    rows.push([
      `convergence: ${formatCount(c.writes)} writes at ${c.ratePerSecond}/s, write answered → resolver answers its revision`,
      `${c.achievedRatePerSecond ?? c.ratePerSecond} writes/s`,
      formatMs(c.ms.p50),
      formatMs(c.ms.p99),
      formatMs(c.ms.p999),
      formatMs(c.ms.max),
      seen,
    ]);
    if (c.relayPublishMs) rows.push(relayRow('relay publish latency, during the convergence writes', c.relayPublishMs));
    if (c.workerApplyMs) rows.push(relayRow('worker apply lag (commit → applied in Redis), during the convergence writes', c.workerApplyMs, 'worker'));
    if (c.resolverFeedMs) rows.push(relayRow("resolver feed delay (commit → read by the resolver's change feed), during the convergence writes", c.resolverFeedMs, 'resolver'));
  }
  /** @type {Json[]} */
  const watchRuns = results.watchRuns ?? (results.watch ? [results.watch] : []);
  for (const w of watchRuns) {
    rows.push([
      `watch: ${formatCount(w.streams)} streams over ${w.tenants} tenants on one resolver, ${formatCount(w.writes)} writes at ${w.ratePerSecond}/s, write answered → event at each client`,
      `${formatCount(w.deliveries)} deliveries`,
      formatMs(w.ms.p50),
      formatMs(w.ms.p99),
      formatMs(w.ms.p999),
      formatMs(w.ms.max),
      `clients in a process of their own; ${w.missing} missing; resolver memory per open stream ${formatCount(Math.round(w.memory.residentPerStreamBytes / 1024))} KiB resident, ${formatCount(Math.round(w.memory.heapPerStreamBytes / 1024))} KiB heap`,
    ]);
  }
  for (const e of results.etcdWatch ?? []) {
    rows.push([
      `etcd watch: ${formatCount(e.streams)} watches over ${e.prefixes} prefixes on one etcd (its JSON gateway), ${formatCount(e.writes)} puts at ${e.ratePerSecond}/s, put answered → event at each watch`,
      `${formatCount(e.deliveries)} deliveries`,
      formatMs(e.ms.p50),
      formatMs(e.ms.p99),
      formatMs(e.ms.p999),
      formatMs(e.ms.max),
      `clients in a process of their own; ${e.missing} missing; etcd's resident memory per watch ${formatKiB(e.memory.residentPerStreamBytes)}`,
    ]);
  }
  const soak = results.watchSoak;
  if (soak) {
    const d = soak.delivery;
    rows.push([
      `watch soak: ${formatCount(soak.streams)} streams over ${soak.tenants} tenants on one resolver (${formatCount(soak.nonReaders)} never reading), ${soak.ratePerSecond} writes/s for ${soak.minutes} min, write answered → event at each reader`,
      `${formatCount(d.deliveries)} deliveries`,
      formatMs(d.ms.p50),
      formatMs(d.ms.p99),
      formatMs(d.ms.p999),
      formatMs(d.ms.max),
      `${formatCount(d.missing)} missing${d.graceSeconds ? ` (not within ${d.graceSeconds} s of the answer)` : ''}, ${formatCount(d.late ?? 0)} arrived later` +
        `${d.unanswered ? `, ${formatCount(d.unanswered)} of writes whose answer never came` : ''}; ${formatCount(soak.cuts)} non-readers cut and ${formatCount(soak.reopens)} reopened; memory below`,
    ]);
  }
  const ph = results.policyHits;
  if (ph) {
    for (const [kind, r] of [
      ['single-URL routes', ph.single],
      [`routes of ${ph.endpointsPerRoute} probed endpoints (selection)`, ph.policy],
    ]) {
      rows.push([
        `resolver, cache hits on ${kind}, alternating rounds`,
        `${formatCount(r.requestsPerSecond)} req/s`,
        formatMs(r.p50Ms),
        formatMs(r.p99Ms),
        '',
        '',
        `rounds ${r.rounds.map(formatCount).join(', ')} req/s (the worse round's p50 and p99)${r.non2xx || r.errors ? `; ${r.non2xx} non-2xx, ${r.errors} errors` : ''}${cpuNote(r) ? `; ${cpuNote(r)}` : ''}`,
      ]);
    }
  }
  const f = results.failover;
  if (f) {
    for (const [kind, r] of [
      ['every resolver answer (polled every 5 ms)', f.resolver],
      ["the SDK's memory answer (looked up every 1 ms)", f.sdk],
    ]) {
      rows.push([
        `failover: primary stopped → ${kind} picks the backup`,
        `${f.trials} trials`,
        formatMs(r.p50),
        formatMs(r.p99),
        '',
        formatMs(r.max),
        `probed every ${f.intervalSeconds} s by ${f.probers} probers, thresholds ${f.threshold} (target ≤ ${formatMs(f.targetMs)})${r.missed ? `; ${r.missed} trials missed` : ''}`,
      ]);
    }
  }
  const sdk = results.sdk;
  if (sdk) {
    rows.push([
      `SDK: in-process lookups from the watch's memory (resolveCached, one core)`,
      `${formatCount(sdk.lookups.perSecond)} lookups/s`,
      `${sdk.lookups.p50Ns} ns`,
      `${sdk.lookups.p99Ns} ns`,
      `${sdk.lookups.p999Ns} ns`,
      '',
      `${formatCount(sdk.lookups.lookups)} lookups, ${formatCount(sdk.lookups.memoryHits)} from memory; per-call times include the timer's own cost`,
    ]);
    const c = sdk.convergence;
    rows.push([
      `SDK: ${formatCount(c.writes)} writes at ${c.ratePerSecond}/s, write answered → the client's memory answers its revision`,
      `${formatCount(c.converged)} converged`,
      formatMs(c.ms.p50),
      formatMs(c.ms.p99),
      formatMs(c.ms.p999),
      formatMs(c.ms.max),
      `${c.failedWrites} PUTs failed, ${c.timedOut} not within 10 s`,
    ]);
  }
  return rows;
}

/**
 * A row of latencies from an app's histogram: the relay's publish latency, the worker's apply lag.
 * @param {string} label
 * @param {Json} ms
 * @param {string} [app]
 */
function relayRow(label, ms, app = 'relay') {
  return [label, '', formatMs(ms.p50), formatMs(ms.p99), '', '', `${formatCount(ms.events)} events; from the ${app}'s histogram (interpolated in its buckets)`];
}

/** @param {unknown} s */
const cell = (s) => String(s).replace(/\|/g, '\\|');

/**
 * The hit path's budget (hit-profile): CPU per answer by stage, from a profiled resolver under the hits load.
 * @param {Json} p results.hitProfile
 */
function budgetSection(p) {
  const lines = [];
  lines.push(`The hit path's budget: CPU per answer by stage, from a resolver under the hits load with V8's profiler on (${p.requestsPerSecond} req/s while profiled; ${p.busyMs} ms busy over ${p.requests} answers). Flame graph: ${p.flameGraph}.`);
  lines.push('');
  lines.push('| stage | µs per answer | share of busy CPU |');
  lines.push('| --- | ---: | ---: |');
  for (const s of p.stages) lines.push(`| ${s.stage} | ${s.usPerRequest ?? '–'} | ${(100 * s.share).toFixed(1)}% |`);
  return lines;
}

/**
 * The Markdown report: the measurements side by side, then the goals.
 * @param {Json} results
 */
function renderMarkdown(results) {
  const s = results.settings;
  const lines = [];
  lines.push(`## Traffic Manager bench, ${results.date.slice(0, 16).replace('T', ' ')} UTC`);
  lines.push('');
  lines.push(`Machine: ${machineLine(results)}.`);
  const la = results.machine.loadAverage;
  if (la) lines.push(`Load average (1 min) before the run ${la.before[0].toFixed(2)}, after ${la.after[0].toFixed(2)} (of ${results.machine.cores} cores).`);
  const generator = s.generator === 'wrk' ? "wrk (Debian's, one thread) in a process of its own" : "autocannon in the bench's own process";
  lines.push(
    `Stack: ${s.stack}; LOG_LEVEL ${s.logLevel}. Load: ${generator}, ${s.connections} connections, ` +
      `${s.durationSeconds} s per phase after ${s.warmupSeconds} s of warm-up, over ${s.routes} routes; ` +
      `the peers (Node floor, bare Fastify, etcd) and each app run in processes of their own, all on the same machine.`,
  );
  lines.push('');
  const peers = peerSection(results);
  if (peers.length) lines.push(...peers, '');
  if (results.hitProfile) lines.push(...budgetSection(results.hitProfile), '');
  const rows = phaseRows(results);
  if (rows.length) {
    lines.push('| measurement | throughput | p50 | p99 | p99.9 | max | notes |');
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const row of rows) lines.push(`| ${row.map(cell).join(' | ')} |`);
  }
  if (results.watchSoak) lines.push('', ...soakSection(results.watchSoak));
  if (results.proberHostile) lines.push('', ...proberSection(results.proberHostile));
  if (results.noisyNeighbour) lines.push('', ...noisySection(results.noisyNeighbour));
  if (results.replicas) lines.push('', ...replicasSection(results.replicas));
  if (results.changeSets) lines.push('', ...changeSetsSection(results.changeSets));
  if (results.dns) lines.push('', ...dnsSection(results.dns));
  if (results.inSync) {
    const s = results.inSync;
    lines.push('', '### Propagation: a write to in sync', '');
    lines.push(`${formatCount(s.writes)} PUTs one after another, each timed from its answer until GET /v1/revisions/{R} said in sync (read every ${s.pollMs} ms): p50 ${formatMs(s.inSyncMs.p50)}, p99 ${formatMs(s.inSyncMs.p99)}${s.missed ? `; ${s.missed} not in sync within 10 s` : ''}.`);
  }
  lines.push('');
  lines.push('Goals (reported, never asserted):');
  lines.push('');
  lines.push('| goal | target | measured | |');
  lines.push('| --- | --- | --- | --- |');
  for (const g of results.goals ?? evaluateGoals(results)) lines.push(`| ${cell(g.label)} | ${cell(g.target)} | ${cell(g.measured)} | ${verdict(g.met)} |`);
  if (results.warnings?.length) {
    lines.push('');
    for (const w of results.warnings) lines.push(`- ${w}`);
  }
  return lines.join('\n') + '\n';
}

/** A share of a core from which a process counts as at its ceiling (one thread: 1). */
const AT_CEILING = 0.9;

/**
 * Which was the limit of a read phase, from its server's and its generator's CPU: the server at a
 * core (the generator not), the generator at a core, or neither (the machine's cores were shared).
 * @param {Json} phase
 */
function generatorVerdict(phase) {
  const g = phase.generatorCpu?.shareOfCore;
  const sv = phase.serverCpu?.shareOfCore;
  if (typeof g !== 'number' || typeof sv !== 'number') return 'not known (CPU not read)';
  if (g >= AT_CEILING) return 'the generator was at its ceiling, so the figure is the generator\'s, not the server\'s';
  if (sv >= AT_CEILING) return 'the server reached its ceiling, not the generator';
  return 'neither reached a core: the machine, its cores shared with other work, was the limit';
}

/** @param {number | null} x */
const ratioCell = (x) => (x === null ? '–' : x.toFixed(2));

/**
 * The side-by-side tables: the read path beside its peers (Node floor, bare Fastify, etcd's range),
 * each as a share of bare Fastify with the generator's CPU beside it; then the watch beside etcd's,
 * per stream count; then the ratios that matter in one line each.
 * @param {Json} results
 */
function peerSection(results) {
  const p = results.phases ?? {};
  const r = peerRatios(results);
  const ph = results.policyHits;
  /** @type {Array<[string, Json | undefined, { rps: number, p50: number | null, p99: number | null } | undefined]>} */
  const reads = [
    ['Node `http` floor, constant body', p.floor, undefined],
    ['bare Fastify, the same answer, same bearer check', p.baseline, undefined],
    ['resolver cache hits (single-URL)', p.hits, undefined],
    ['resolver cache hits (4-endpoint probed: policy-hits)', ph?.policy, ph ? { rps: ph.policy.requestsPerSecond, p50: ph.policy.p50Ms, p99: ph.policy.p99Ms } : undefined],
    ['etcd 3.4 serializable range over its JSON gateway', p.etcdRange, undefined],
  ];
  const measured = reads.filter(([, x]) => x);
  const lines = [];
  if (measured.length) {
    const base = p.baseline?.requestsPerSecond;
    lines.push('### Beside the peers, one generator, one run');
    lines.push('');
    lines.push('| server | req/s | p50 | p99 | share of bare Fastify | generator CPU (share of a core) | server CPU |');
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const [label, x, policy] of measured) {
      if (!x) continue;
      const rps = policy ? policy.rps : x.requestsPerSecond;
      const [p50, p99] = policy ? [policy.p50, policy.p99] : [x.latencyMs.p50, x.latencyMs.p99];
      const share = base ? (rps / base).toFixed(2) : '–';
      lines.push(`| ${label} | ${formatCount(rps)} | ${formatMs(p50)} | ${formatMs(p99)} | ${share} | ${x.generatorCpu ? x.generatorCpu.shareOfCore.toFixed(2) : '–'} | ${x.serverCpu ? x.serverCpu.shareOfCore.toFixed(2) : '–'} |`);
    }
    lines.push('');
    lines.push(
      `Ratios: bare Fastify / Node floor ${ratioCell(r.fastifyOfFloor)}; hits / bare Fastify ${ratioCell(r.hitsOfFastify)} (req/s), ${ratioCell(r.hitsP99OfFastify)} (p99); ` +
        `hits / etcd range ${ratioCell(r.hitsOfEtcd)}; probed hits / single-URL hits ${ratioCell(r.probedOfSingle)}, / bare Fastify ${ratioCell(r.probedOfFastify)}, / etcd range ${ratioCell(r.probedOfEtcd)}.`,
    );
    if (p.floor?.generatorCpu && p.floor.serverCpu) {
      const g = p.floor.generatorCpu.shareOfCore;
      const sv = p.floor.serverCpu.shareOfCore;
      lines.push(`The generator: at the Node floor the server used ${sv.toFixed(2)} of a core (one Node thread's ceiling is 1) while wrk used ${g.toFixed(2)}: ${generatorVerdict(p.floor)}.`);
    }
  }
  if (r.watch.length) {
    if (lines.length) lines.push('');
    lines.push('### Watch delivery beside etcd');
    lines.push('');
    lines.push('| streams | ours p50 | ours p99 | etcd p50 | etcd p99 | ours p99 / etcd p99 | missing (ours / etcd) | resident memory per stream (ours / etcd) |');
    lines.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const w of r.watch) {
      const [o, e] = [w.ours, w.etcd];
      lines.push(
        `| ${formatCount(w.streams)} | ${formatMs(o?.ms.p50)} | ${formatMs(o?.ms.p99)} | ${formatMs(e?.ms.p50)} | ${formatMs(e?.ms.p99)} | ${ratioCell(w.p99OfEtcd)} | ` +
          `${o ? formatCount(o.missing) : '–'} / ${e ? formatCount(e.missing) : '–'} | ${formatKiB(o?.memory.residentPerStreamBytes)} / ${formatKiB(e?.memory.residentPerStreamBytes)} |`,
      );
    }
  }
  /** @type {Json[]} */
  const quiet = results.quiet ?? [];
  if (quiet.length) {
    if (lines.length) lines.push('');
    lines.push(
      `Machine busy before each phase (/proc/stat over ~1 s, the bench's servers idle; warned above ${QUIET_BUSY_SHARE * 100}%): ` +
        quiet.map((q) => `${q.phase} ${q.busyShare === null ? '–' : `${Math.round(q.busyShare * 100)}%`}`).join(', ') + '.',
    );
  }
  return lines;
}

/**
 * Every `every`-th sample, and always the last one.
 * @template T
 * @param {T[]} samples
 * @param {number} most
 */
function thinned(samples, most) {
  const every = Math.max(1, Math.ceil(samples.length / most));
  return samples.filter((_, i) => i % every === 0 || i === samples.length - 1);
}

/**
 * The soak's memory: the steps as streams open, the samples (about one a minute) and the verdict.
 * @param {Json} w
 */
function soakSection(w) {
  const lines = [];
  lines.push(`### Watch soak: the resolver's memory`);
  lines.push('');
  lines.push(
    `${formatCount(w.streams)} streams on one resolver (${formatCount(w.readers)} reading, ${formatCount(w.nonReaders)} never reading a byte), ` +
      `${w.streamsPerTenant} per tenant over ${w.tenants} tenants, each tenant's streams on a key of its own; then ${w.ratePerSecond} writes per second ` +
      `(${w.writes.perSecond} achieved) for ${w.minutes} min, a sample every ${w.sampleSeconds} s. Non-readers the resolver cut were reopened.`,
  );
  lines.push('');
  lines.push('| when | streams | resident | heap | per stream added |');
  lines.push('| --- | ---: | ---: | ---: | --- |');
  /** @type {Json[]} */
  const steps = w.memorySteps ?? [];
  const perStream = [
    '',
    `${formatKiB(w.perStream.reader.residentBytes)} resident, ${formatKiB(w.perStream.reader.heapBytes)} heap (a reader)`,
    `${formatKiB(w.perStream.nonReader.residentBytes)} resident, ${formatKiB(w.perStream.nonReader.heapBytes)} heap (a non-reader)`,
  ];
  steps.forEach((st, i) => lines.push(`| ${cell(st.label)} | ${formatCount(st.streams)} | ${formatMB(st.residentBytes)} | ${formatMB(st.heapBytes)} | ${perStream[i] ?? ''} |`));
  lines.push('');
  lines.push(
    '| time | resident | heap | streams | readers | non-readers | cut / reopened | closed slow | TCP memory (system) | unread by non-readers | delivery p99 |',
  );
  lines.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const x of thinned(w.samples ?? [], 11)) {
    const c = x.clients ?? {};
    lines.push(
      `| ${formatClock(x.t)} | ${formatMB(x.residentBytes)} | ${formatMB(x.heapBytes)} | ${formatCount(x.streams)} | ${formatCount(c.readersOpen)} | ${formatCount(c.nonReadersOpen)} | ` +
        `${formatCount(c.cuts)} / ${formatCount(c.reopens)} | ${formatCount(x.closed?.slow ?? 0)} | ${x.tcp ? formatMB(x.tcp.memoryBytes) : '–'} | ${formatMB(c.unreadClientBytes)} | ${formatMs(c.window?.p99)} |`,
    );
  }
  lines.push('');
  const m = w.memory;
  lines.push(
    `Resident memory: ${formatMB(m.startBytes)} at the start, ${formatMB(m.endBytes)} at the end, ${formatMB(m.maxBytes)} at most; ` +
      `${m.collections} collections in the second half (from ${formatClock(m.secondHalfFromSeconds ?? 0)}), ${comparedLine(m)}: ` +
      `${m.verdict === null ? `**not judged** (${m.reason})` : `**${m.verdict}**`}. Rule: ${m.rule}. ` +
      `For information, least-squares slopes over the second half (they say more about when the collections fell): resident ${m.slopeMBPerHour} MB/h, heap ${w.heap.slopeMBPerHour} MB/h.`,
  );
  lines.push('');
  lines.push(
    `Closed by the resolver during the writes: ${Object.entries(w.closed ?? {}).filter(([, n]) => n > 0).map(([reason, n]) => `${reason} ${formatCount(n)}`).join(', ') || 'none'}; ` +
      `refused ${formatCount(w.refused)}; readers reconnected ${formatCount(w.readerReconnects)}. "TCP memory" is the whole system's (/proc/net/sockstat); ` +
      `"unread by non-readers" the bytes waiting in their sockets' receive queues.`,
  );
  return lines;
}

/**
 * The prober with a hostile tenant: one row per stage.
 * @param {Json} p
 */
function proberSection(p) {
  const lines = [];
  lines.push('### Prober with a hostile tenant');
  lines.push('');
  lines.push(
    `An honest tenant of ${p.honest.endpoints} endpoints answering at once, and a hostile one of ${p.hostile.endpoints} (${p.hostile.routes} routes of ${p.hostile.endpoints / p.hostile.routes}) whose servers accept and never answer; ` +
      `every endpoint probed every ${p.check.intervalSeconds} s with a ${p.check.timeoutSeconds} s timeout by the stack's ${p.probers} probers (figures summed over both).`,
  );
  lines.push('');
  lines.push('| stage | honest probes/s | hostile probes/s | probe wait p50 / p99 (every tenant) | honest gap between probes p50 / p99 / max | honest endpoints that left healthy | hostile peak in flight (share per prober) |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const s of p.stages) {
    lines.push(
      `| ${s.name} (${s.seconds} s) | ${s.probesPerSecond.honest} | ${s.probesPerSecond.hostile} | ${formatMs(s.waitMs.p50)} / ${formatMs(s.waitMs.p99)} | ` +
        `${formatMs(s.honestGapMs.p50)} / ${formatMs(s.honestGapMs.p99)} / ${formatMs(s.honestGapMs.max)} | ${s.honestLeftHealthy} of ${p.honest.endpoints} (${s.healthPolls} reads) | ${s.hostilePeakInFlight} (${s.share.join(', ')}) |`,
    );
  }
  lines.push('');
  lines.push(
    "Probes per second from tm_prober_probes_total by tenant; the wait for a slot from tm_prober_probe_wait_seconds, which has no tenant label; the gaps between two probes of one honest endpoint by one prober as its server saw them; health read from the resolver every second, from the hostile tenant's writes on.",
  );
  return lines;
}

/**
 * Change sets: routes per second by set size, and other tenants' PUTs beside 1,000-route sets (change-sets.mjs).
 * @param {Json} r results.changeSets
 */
function changeSetsSection(r) {
  const lines = ['### Change sets', ''];
  lines.push('POST /v1/changes in closed loops: 4 clients, each in a tenant of its own, every set a new URL for each of its routes.');
  lines.push('');
  lines.push('| routes per set | sets/s | routes/s | commit p50 | commit p99 | failed |');
  lines.push('| ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const s of r.sizes) lines.push(`| ${formatCount(s.size)} | ${s.setsPerSecond} | ${formatCount(Math.round(s.routesPerSecond))} | ${formatMs(s.commitMs.p50)} | ${formatMs(s.commitMs.p99)} | ${s.failures} |`);
  const b = r.besideBigSets;
  lines.push('');
  lines.push(
    `Other tenants' PUTs (${b.writers} writers): p50 ${formatMs(b.alone.puts.p50)}, p99 ${formatMs(b.alone.puts.p99)} alone; p50 ${formatMs(b.beside.puts.p50)}, p99 ${formatMs(b.beside.puts.p99)} while ${b.bigSets} clients submit 1,000-route sets (${formatCount(b.beside.setCount)} sets${b.beside.sets ? `, each p50 ${formatMs(b.beside.sets.p50)}` : ''}).`,
  );
  return lines;
}

/**
 * The dns phase (dns.mjs): the resolver's DNS beside Unbound under dnsperf, write → DNS answer, and
 * failover as dig sees it.
 * @param {Json} d results.dns
 */
function dnsSection(d) {
  const p = d.dnsperf;
  const lines = ['### DNS', ''];
  lines.push(
    `dnsperf (Debian's, in a process of its own; ${p.threads} thread, ${p.clients} clients, ${p.outstanding} queries in flight, closed loop) on the A records of ` +
      `${formatCount(d.routes)} routes of a tenant opened to DNS (zone ${d.zone}), ${p.rounds} alternating rounds of ${p.seconds} s per server after ${p.warmupSeconds} s of warm-up; ` +
      `latencies from its per-query output (-v), over every round. Unbound (Debian's, one thread) serves the same names as static local-data (TTL ${d.ttlSeconds} s), no recursion.`,
  );
  lines.push('');
  lines.push('| server | queries/s | p50 | p99 | p99.9 | max | rounds (queries/s) | answers | dnsperf CPU | server CPU |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: |');
  /** @param {Json} cpu */
  const share = (cpu) => (typeof cpu?.shareOfCore === 'number' ? `${cpu.shareOfCore.toFixed(2)} of a core` : '–');
  for (const [label, r] of [
    ["resolver (the stack's)", d.resolver],
    ['Unbound, local-data', d.unbound],
  ]) {
    const answers = `${tallyText(r.rcodes)}${r.lost ? `, ${formatCount(r.lost)} lost` : ''}${r.cache ? `; ${cacheNote(r.cache)}` : ''}`;
    lines.push(
      `| ${label} | ${formatCount(r.queriesPerSecond)} | ${formatMs(r.latencyMs.p50)} | ${formatMs(r.latencyMs.p99)} | ${formatMs(r.latencyMs.p999)} | ${formatMs(r.latencyMs.max)} | ` +
        `${r.rounds.map(formatCount).join(', ')} | ${cell(answers)} | ${share(r.generatorCpu)} | ${share(r.serverCpu)} |`,
    );
  }
  lines.push('');
  for (const [label, r] of [
    ['Resolver', d.resolver],
    ['Unbound', d.unbound],
  ]) {
    const shares = (r.roundsGeneratorShare ?? []).filter((/** @type {number | null} */ x) => x !== null);
    lines.push(`- ${label}: ${generatorVerdict(r)}${shares.length ? ` (dnsperf's busiest round: ${Math.max(...shares).toFixed(2)} of a core)` : ''}.`);
  }
  lines.push('');
  lines.push(`Resolver / Unbound: ${ratioCell(d.ratio.queriesPerSecond)} of its queries per second; its p99 ${ratioCell(d.ratio.p99)} times Unbound's.`);
  const w = d.writeToAnswer;
  lines.push('');
  lines.push(
    `Write → DNS answer: ${formatCount(w.writes)} PUTs one after another, each of a route to a new address, timed from its answer until the resolver's DNS answered that address ` +
      `(a UDP query every ${w.pollMs} ms): p50 ${formatMs(w.ms.p50)}, p99 ${formatMs(w.ms.p99)}, max ${formatMs(w.ms.max)} (${formatCount(w.answered)} answered; ` +
      `${w.timedOut} not within 10 s, ${w.failedWrites} PUTs failed).`,
  );
  const f = d.failover;
  lines.push('');
  lines.push(
    `Failover as dig sees it: ${f.trials} trials of a primary stopped (probed every ${f.intervalSeconds} s by ${f.probers} probers, thresholds ${f.threshold}), each timed until dig answered ` +
      `the backup (dig run again and again, ${formatMs(f.digMs)} each): median ${formatMs(f.ms.p50)}, max ${formatMs(f.ms.max)}; every trial ${(f.ms.sortedMs ?? []).map(formatCount).join(', ')} ms ` +
      `(the HTTP failover's target: ${formatMs(f.targetMs)})${f.ms.missed ? `; ${f.ms.missed} trials never saw the backup within 30 s` : ''}.`,
  );
  return lines;
}

/**
 * Read replicas: the primary's transactions per second with and without a replica (replicas.mjs).
 * @param {Json} r results.replicas
 */
function replicasSection(r) {
  const st = r.settings;
  const lines = [];
  lines.push("### Read replicas: the primary's load");
  lines.push('');
  lines.push(
    `${st.resolvers} resolvers on a PostgreSQL primary of the bench's own, ${formatCount(st.streams)} watch streams opened over ${st.tenants} tenants, then ${st.seconds} s of ` +
      `${st.writeRate} writes, ${st.readRate} strong reads and ${st.readRate} X-Min-Revision reads a second; once without a replica, once with one (DATABASE_READ_URL).`,
  );
  lines.push('');
  lines.push("| mode | primary's transactions/s while the streams opened | primary's transactions/s, steady | writes/s | reads by kind and target | failed requests |");
  lines.push('| --- | ---: | ---: | ---: | --- | ---: |');
  for (const m of r.modes) {
    const reads = Object.entries(m.readsByTarget ?? {}).map(([k, n]) => `${k} ${formatCount(n)}`).join(', ') || 'none';
    lines.push(`| ${m.mode} | ${Math.round(m.opening.perSecond).toLocaleString('en-US')} | ${Math.round(m.steady.perSecond).toLocaleString('en-US')} | ${m.writesPerSecond.toFixed(1)} | ${cell(reads)} | ${m.failedRequests} |`);
  }
  lines.push('');
  lines.push(`Counted: ${r.note}.`);
  return lines;
}

/**
 * "200 ×30,000, 429 ×60,000", or "none".
 * @param {Record<string, number>} counts
 */
function tallyText(counts) {
  const entries = Object.entries(counts ?? {}).filter(([, n]) => n > 0);
  return entries.length ? entries.map(([k, n]) => `${k} ×${formatCount(n)}`).join(', ') : 'none';
}

/**
 * p50 / p99 / max of a latency summary.
 * @param {Json} ms
 */
const threeMs = (ms) => `${formatMs(ms.p50)} / ${formatMs(ms.p99)} / ${formatMs(ms.max)}`;

/**
 * The noisy-neighbour phase: B's figures without A beside those with A, then what A did and was answered.
 * @param {Json} n
 */
function noisySection(n) {
  const [without, withA] = n.stages;
  const b = n.b;
  const a = n.a;
  const lines = [];
  lines.push('### Noisy neighbour: tenant B without and with tenant A');
  lines.push('');
  lines.push(
    `Tenant B, on a stored key of its own: ${formatCount(b.resolveRatePerSecond)} resolves per second on its ${b.routes} probed routes, ${b.writeRatePerSecond} writes per second ` +
      `timed from each PUT's answer to its event on B's watch stream, failover trials on a route of a primary and a backup (probed every ${b.failover.check.intervalSeconds} s, thresholds ${b.failover.check.healthyThreshold}; ` +
      `the resolver polled every ${b.failover.pollMs} ms), the health of its endpoints read every second; ${n.seconds} s alone, then ${n.seconds} s beside tenant A, on stored keys of its own: ` +
      `${formatCount(a.probes.endpoints)} probed endpoints whose servers never answer (${a.probes.routes} routes), ${formatCount(a.streams.wanted)} watch streams that never read ` +
      `(${a.streams.keys.map(formatCount).join(' + ')} on ${a.streams.keys.length} keys), ${formatCount(a.flood.ratePerSecond)} resolves per second on one key (the rate limit: ${formatCount(a.flood.limitPerSecond)}), ` +
      'the streams and the flood from a process of its own.',
  );
  lines.push('');
  lines.push('| tenant B | without A | with A | goal |');
  lines.push('| --- | ---: | ---: | --- |');
  /**
   * @param {string} label
   * @param {(s: Json) => unknown} f
   * @param {string} [goal]
   */
  const row = (label, f, goal = '') => lines.push(`| ${cell(label)} | ${cell(f(without))} | ${cell(f(withA))} | ${cell(goal)} |`);
  row('stage length', (s) => `${s.seconds} s`);
  row('resolves answered per second', (s) => String(s.resolve.perSecond));
  row('resolve p50 / p99 / max', (s) => threeMs(s.resolve.ms));
  row('resolves refused or failed', (s) => `${formatCount(s.resolve.refused)} of ${formatCount(s.resolve.requests)}`, '0');
  row("B's other requests (writes, health, failover polls) refused or failed", (s) => `${formatCount(s.other.refused)} of ${formatCount(s.other.requests)}`, '0');
  row("refusals the apps counted for B's tenant (tm_quota_refusals_total)", (s) => tallyText(s.appRefusals), 'none');
  row('watch: delivery p50 / p99 / max', (s) => threeMs(s.watch.ms));
  row('watch: events missing', (s) => `${formatCount(s.watch.missing)} of ${formatCount(s.watch.writes)}${s.watch.reconnects ? ` (${s.watch.reconnects} reconnects)` : ''}`, '0');
  row(
    'failover: trials, p50 / max',
    (s) => `${s.failover.trials}${s.failover.trials ? `: ${formatMs(s.failover.ms.p50)} / ${formatMs(s.failover.ms.max)}` : ''}${s.failover.missed ? `, ${s.failover.missed} missed` : ''}`,
    `every trial picks the backup (target ≤ ${formatMs(b.failover.targetMs)})`,
  );
  row('endpoints that left healthy', (s) => `${s.health.leftHealthy} of ${s.health.endpoints} (${s.health.polls} reads)`, '0');
  row("B's probes per second (both probers)", (s) => String(s.probesPerSecond));
  row("the resolver's CPU (cores); the machine busy (all its cores)", (s) => (s.cpu ? `${s.cpu.resolverCores}; ${s.cpu.machineBusyPercent ?? '–'}%` : '–'));
  lines.push('');
  const d = withA.a ?? {};
  const flood = d.flood;
  const refusal = a.flood.total.refusal;
  const overStreams = a.streams.overQuota.map((/** @type {Json} */ o) => `${o.quota}: ${o.status}${o.code ? ` ${o.code}` : ''}`);
  lines.push('| tenant A | answered |');
  lines.push('| --- | --- |');
  lines.push(
    `| ${formatCount(a.probes.endpoints)} probed endpoints on servers that never answer, probed every ${a.probes.check.intervalSeconds} s with a ${a.probes.check.timeoutSeconds} s timeout | ` +
      `accepted; one route more: ${a.probes.overQuota.status}${a.probes.overQuota.code ? ` ${a.probes.overQuota.code}` : ''}; its probes in flight at most ${(d.probesInFlightPeak ?? []).join(', ')} (per prober) |`,
  );
  lines.push(
    `| ${formatCount(a.streams.wanted)} watch streams that never read, then one more on each key at its quota (per key) and, the tenant at its quota, one on another key (per tenant) | ` +
      `${tallyText(a.streams.statuses)}${Object.keys(a.streams.codes ?? {}).length ? ` (${tallyText(a.streams.codes)})` : ''}; over the quotas: ${overStreams.join(', ') || 'none tried'}; ` +
      `the resolver had ${d.resolverStreams ? `${formatCount(d.resolverStreams.atStart)} streams open at the stage's start and ${formatCount(d.resolverStreams.atEnd)} at its end, closed during it: ${tallyText(d.streamsClosed)}` : '–'} |`,
  );
  lines.push(
    `| ${formatCount(a.flood.ratePerSecond)} resolves per second on one key | ` +
      (flood ? `during the stage ${formatCount(flood.perSecond)}/s answered: ${tallyText(flood.statuses)} (codes: ${tallyText(flood.codes)})${flood.errors ? `, ${flood.errors} errors` : ''}${flood.skipped ? `, ${formatCount(flood.skipped)} not sent (the resolver a second behind)` : ''}; ` : '') +
      `in all ${tallyText(a.flood.total.statuses)}` +
      (refusal ? `; a refusal: ${refusal.status} ${refusal.code}, Retry-After ${refusal.retryAfter}, RateLimit ${refusal.rateLimit}, RateLimit-Policy ${refusal.rateLimitPolicy}` : '') +
      ' |',
  );
  lines.push(`| the apps' count of A's refusals during the stage (tm_quota_refusals_total) | ${tallyText(d.appRefusals)} |`);
  lines.push('');
  lines.push(
    "B's answers, deliveries and failover times are the bench's own clocks (one machine); its endpoints' health is the resolver's `GET /v1/routes/.../health`; its probes per second from the probers' tm_prober_probes_total. " +
      `A's stream refusals and the route over its quota were answered before the stage; an event not there ${without.watch.graceSeconds} s after the stage's last answer is missing.`,
  );
  return lines;
}

// ---------------------------------------------------------------------------------------------
// SVG

/** @param {unknown} s */
function escapeXml(s) {
  return String(s).replace(/[&<>"']/g, (c) => /** @type {Record<string, string>} */ ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]);
}

/** @param {number} x */
const fmt = (x) => (Math.round(x * 10) / 10).toString();

/**
 * @param {number} x
 * @param {number} y
 * @param {unknown} content
 * @param {string} [attrs]
 */
function text(x, y, content, attrs = '') {
  return `<text x="${fmt(x)}" y="${fmt(y)}"${attrs ? ' ' + attrs : ''}>${escapeXml(content)}</text>`;
}

/**
 * @param {number} x1
 * @param {number} y1
 * @param {number} x2
 * @param {number} y2
 * @param {string} attrs
 */
function line(x1, y1, x2, y2, attrs) {
  return `<line x1="${fmt(x1)}" y1="${fmt(y1)}" x2="${fmt(x2)}" y2="${fmt(y2)}" ${attrs}/>`;
}

/**
 * A round step (1, 2 or 5 times a power of ten) giving about `count` ticks over [0, max].
 * @param {number} max
 * @param {number} [count]
 */
function niceStep(max, count = 5) {
  if (!(max > 0)) return 1;
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const m = raw / power;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power;
}

/**
 * Ticks 1, 2, 5 times powers of ten within [lo, hi].
 * @param {number} lo
 * @param {number} hi
 */
function logTicks(lo, hi) {
  const ticks = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) ticks.push(Number(v.toPrecision(3)));
    }
  }
  return ticks;
}

/** @param {number} v */
function tickLabel(v) {
  return v >= 1000 ? `${v / 1000}k` : String(v);
}

/**
 * @param {Json} results
 * @param {number} x0
 * @param {number} y0
 * @param {number} width
 */
function throughputPanel(results, x0, y0, width) {
  const out = [];
  const p = results.phases ?? {};
  const reads = LOAD_PHASES.filter((ph) => ph.key !== 'writes' && p[ph.key]);
  const writes = p.writes;
  out.push(text(x0, y0, 'Requests per second (higher is better)', 'class="h2"'));
  const labelW = 150;
  const barX = x0 + labelW;
  const barW = width - labelW - 90;
  const rowH = 26;
  let y = y0 + 20;
  if (reads.length) {
    const max = Math.max(...reads.map((ph) => p[ph.key].requestsPerSecond), p.baseline ? p.baseline.requestsPerSecond : 0);
    const step = niceStep(max, 6);
    const top = Math.ceil(max / step) * step;
    /** @param {number} v */
    const sx = (v) => barX + (v / top) * barW;
    const axisY = y + reads.length * rowH + 4;
    for (let v = 0; v <= top + 1e-9; v += step) {
      out.push(line(sx(v), y - 4, sx(v), axisY, 'class="grid"'));
      out.push(text(sx(v), axisY + 14, tickLabel(v), 'class="tick" text-anchor="middle"'));
    }
    out.push(text(barX + barW / 2, axisY + 30, 'requests per second, one generator (wrk, a process of its own) with the same connections and duration for each', 'class="axis" text-anchor="middle"'));
    for (const ph of reads) {
      const r = p[ph.key];
      out.push(text(barX - 8, y + 15, ph.short, 'class="label" text-anchor="end"'));
      out.push(`<rect x="${fmt(barX)}" y="${fmt(y + 3)}" width="${fmt(Math.max(1, sx(r.requestsPerSecond) - barX))}" height="${rowH - 8}" fill="${ph.color}"/>`);
      const share = ph.key !== 'baseline' && p.baseline ? ` (${(r.requestsPerSecond / p.baseline.requestsPerSecond).toFixed(2)} of bare Fastify)` : '';
      out.push(text(sx(r.requestsPerSecond) + 6, y + 15, `${formatCount(r.requestsPerSecond)}${share}`, 'class="value"'));
      y += rowH;
    }
    if (p.baseline) {
      const gx = sx(p.baseline.requestsPerSecond * GOALS.hitsShareOfBaseline);
      out.push(line(gx, y0 + 12, gx, axisY, 'class="goal"'));
      out.push(text(gx, y0 + 10, `goal for hits: ${GOALS.hitsShareOfBaseline} of bare Fastify`, 'class="goaltext" text-anchor="middle"'));
    }
    y = axisY + 44;
  }
  if (writes) {
    const max = Math.max(writes.requestsPerSecond, GOALS.putsPerSecond) * 1.1;
    const step = niceStep(max, 5);
    const top = Math.ceil(max / step) * step;
    /** @param {number} v */
    const sx = (v) => barX + (v / top) * barW;
    out.push(text(barX - 8, y + 15, `writes, ${writes.connections} clients`, 'class="label" text-anchor="end"'));
    out.push(`<rect x="${fmt(barX)}" y="${fmt(y + 3)}" width="${fmt(Math.max(1, sx(writes.requestsPerSecond) - barX))}" height="${rowH - 8}" fill="#059669"/>`);
    out.push(text(sx(writes.requestsPerSecond) + 6, y + 15, `${formatCount(writes.requestsPerSecond)} PUT/s`, 'class="value"'));
    const axisY = y + rowH + 4;
    for (let v = 0; v <= top + 1e-9; v += step) {
      out.push(line(sx(v), y - 2, sx(v), axisY, 'class="grid"'));
      out.push(text(sx(v), axisY + 14, tickLabel(v), 'class="tick" text-anchor="middle"'));
    }
    const gx = sx(GOALS.putsPerSecond);
    out.push(line(gx, y - 6, gx, axisY, 'class="goal"'));
    out.push(text(gx + 4, y - 8, `goal: ${GOALS.putsPerSecond} PUT/s`, 'class="goaltext"'));
    out.push(text(barX + barW / 2, axisY + 30, 'PUTs per second (its own scale)', 'class="axis" text-anchor="middle"'));
    y = axisY + 44;
  }
  return { svg: out.join('\n'), bottom: y };
}

/**
 * Position of a percentile on a "nines" axis: 0 at p0, 1 at p90, 2 at p99, 3 at p99.9...
 * @param {number} p
 */
function ninesPosition(p) {
  return Math.log10(100 / Math.max(1e-9, 100 - p));
}

/**
 * @param {Json} results
 * @param {number} x0
 * @param {number} y0
 * @param {number} width
 * @param {number} height
 */
function latencyPanel(results, x0, y0, width, height) {
  const out = [];
  const p = results.phases ?? {};
  const phases = LOAD_PHASES.filter((ph) => p[ph.key]?.distribution);
  out.push(text(x0, y0, 'Latency by percentile (lower is better)', 'class="h2"'));
  const left = x0 + 52;
  const right = x0 + width - 10;
  const top = y0 + 24;
  const bottom = y0 + height - 64;
  /** @param {string} key */
  const distribution = (key) => /** @type {Distribution} */ (p[key].distribution);
  const pts = phases.flatMap((ph) =>
    distribution(ph.key)
      .filter(([q, ms]) => q < 100 && ms !== null)
      .map(([, ms]) => /** @type {number} */ (ms)),
  );
  if (!pts.length) return out.join('\n');
  const lo = 10 ** Math.floor(Math.log10(Math.max(0.05, Math.min(...pts))));
  // The hits' p99 goal: a multiple of bare Fastify's p99 in the same run (no line without it).
  const baselineP99 = p.baseline?.latencyMs?.p99;
  const goalMs = typeof baselineP99 === 'number' ? baselineP99 * GOALS.hitsP99OfBaseline : null;
  const hi = 10 ** Math.ceil(Math.log10(Math.max((goalMs ?? 0) * 1.5, ...pts)));
  const maxNines = 4;
  /** @param {number} q */
  const sx = (q) => left + (Math.min(ninesPosition(q), maxNines) / maxNines) * (right - left);
  /** @param {number} ms */
  const sy = (ms) => bottom - ((Math.log10(Math.max(lo, ms)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (bottom - top);
  for (const t of logTicks(lo, hi)) {
    out.push(line(left, sy(t), right, sy(t), 'class="grid"'));
    out.push(text(left - 6, sy(t) + 4, tickLabel(t), 'class="tick" text-anchor="end"'));
  }
  for (const [q, label] of /** @type {Array<[number, string]>} */ ([
    [0, 'p0'],
    [50, 'p50'],
    [90, 'p90'],
    [99, 'p99'],
    [99.9, 'p99.9'],
    [99.99, 'p99.99'],
  ])) {
    out.push(line(sx(q), top, sx(q), bottom, 'class="grid"'));
    out.push(text(sx(q), bottom + 16, label, 'class="tick" text-anchor="middle"'));
  }
  out.push(text((left + right) / 2, bottom + 34, 'percentile of requests (log scale of nines)', 'class="axis" text-anchor="middle"'));
  out.push(text(x0 + 12, (top + bottom) / 2, 'ms (log scale)', `class="axis" text-anchor="middle" transform="rotate(-90 ${fmt(x0 + 12)} ${fmt((top + bottom) / 2)})"`));
  if (goalMs !== null) {
    const gy = sy(goalMs);
    out.push(line(left, gy, right, gy, 'class="goal"'));
    out.push(text(right - 4, gy + 14, `goal: hits p99 ≤ ${GOALS.hitsP99OfBaseline}× bare Fastify's (${formatMs(goalMs)})`, 'class="goaltext" text-anchor="end"'));
  }
  for (const ph of phases) {
    const d = /** @type {Array<[number, number]>} */ (distribution(ph.key).filter(([q, ms]) => q <= 99.99 && ms !== null));
    const path = d.map(([q, ms], i) => `${i ? 'L' : 'M'}${fmt(sx(q))},${fmt(sy(ms))}`).join(' ');
    out.push(`<path d="${path}" fill="none" stroke="${ph.color}" stroke-width="2.2"/>`);
    const p99 = d.find(([q]) => q === 99);
    if (p99) out.push(`<circle cx="${fmt(sx(99))}" cy="${fmt(sy(p99[1]))}" r="3.5" fill="${ph.color}"/>`);
  }
  let lx = left;
  const ly = bottom + 52;
  for (const ph of phases) {
    out.push(`<rect x="${fmt(lx)}" y="${fmt(ly - 9)}" width="12" height="10" fill="${ph.color}"/>`);
    out.push(text(lx + 16, ly, ph.short, 'class="legend"'));
    lx += 26 + ph.short.length * 6.4;
  }
  return out.join('\n');
}

/**
 * @param {Json} results
 * @param {number} x0
 * @param {number} y0
 * @param {number} width
 * @param {number} height
 */
function convergencePanel(results, x0, y0, width, height) {
  const out = [];
  const c = results.convergence;
  out.push(text(x0, y0, 'Convergence: write answered → resolver answers its revision', 'class="h2"'));
  if (!c?.sortedMs?.length) return out.join('\n');
  const left = x0 + 52;
  const right = x0 + width - 16;
  const top = y0 + 24;
  const bottom = y0 + height - 64;
  const max = Math.max(c.ms.max, GOALS.convergenceP99Ms * 1.2);
  const step = niceStep(max, 6);
  const xMax = Math.ceil(max / step) * step;
  /** @param {number} ms */
  const sx = (ms) => left + (ms / xMax) * (right - left);
  /** @param {number} f */
  const sy = (f) => bottom - f * (bottom - top);
  for (let v = 0; v <= xMax + 1e-9; v += step) {
    out.push(line(sx(v), top, sx(v), bottom, 'class="grid"'));
    out.push(text(sx(v), bottom + 16, tickLabel(Number(v.toPrecision(6))), 'class="tick" text-anchor="middle"'));
  }
  for (let f = 0; f <= 1.0001; f += 0.25) {
    out.push(line(left, sy(f), right, sy(f), 'class="grid"'));
    out.push(text(left - 6, sy(f) + 4, `${Math.round(f * 100)}%`, 'class="tick" text-anchor="end"'));
  }
  out.push(text((left + right) / 2, bottom + 34, `ms after the write's answer (${formatCount(c.writes)} writes at ${c.ratePerSecond}/s)`, 'class="axis" text-anchor="middle"'));
  out.push(text(x0 + 12, (top + bottom) / 2, 'share of the writes seen', `class="axis" text-anchor="middle" transform="rotate(-90 ${fmt(x0 + 12)} ${fmt((top + bottom) / 2)})"`));
  const gx = sx(GOALS.convergenceP99Ms);
  out.push(line(gx, top, gx, bottom, 'class="goal"'));
  out.push(text(gx + 4, top + 12, `goal: p99 < ${GOALS.convergenceP99Ms} ms`, 'class="goaltext"'));
  const s = c.sortedMs;
  const n = s.length;
  // A step curve through at most about 400 points (every sample when fewer).
  const every = Math.max(1, Math.floor(s.length / 400));
  let d = `M${fmt(sx(0))},${fmt(sy(0))}`;
  for (let i = 0; i < s.length; i += every) d += ` L${fmt(sx(s[i]))},${fmt(sy(i / n))} L${fmt(sx(s[i]))},${fmt(sy((i + 1) / n))}`;
  d += ` L${fmt(sx(s[s.length - 1]))},${fmt(sy(s.length / n))}`;
  out.push(`<path d="${d}" fill="none" stroke="#2563eb" stroke-width="2.2"/>`);
  for (const [q, value] of [
    [0.5, c.ms.p50],
    [0.99, c.ms.p99],
  ]) {
    out.push(`<circle cx="${fmt(sx(value))}" cy="${fmt(sy(q))}" r="4" fill="#1e3a8a"/>`);
    // Labels right of their point, or left of it near the right edge.
    const leftOf = sx(value) > right - 110;
    out.push(text(sx(value) + (leftOf ? -8 : 8), sy(q) + (q === 0.99 ? 14 : 4), `p${q * 100} ${formatMs(value)}`, `class="value"${leftOf ? ' text-anchor="end"' : ''}`));
  }
  const trouble = convergenceTrouble(c);
  if (trouble) out.push(text(right, bottom - 8, `not on the curve: ${trouble.trim().slice(1, -1)}`, 'class="goaltext" text-anchor="end"'));
  return out.join('\n');
}

/**
 * The soak's memory over time: resident, heap and the system's TCP memory, with the two points of resident the rule compares.
 * @param {Json} w
 * @param {number} x0
 * @param {number} y0
 * @param {number} width
 * @param {number} height
 */
function soakPanel(w, x0, y0, width, height) {
  const out = [];
  const m = w.memory;
  out.push(text(x0, y0, `Watch soak: the resolver's memory, ${formatCount(w.streams)} streams (${formatCount(w.nonReaders)} never reading), ${w.ratePerSecond} writes/s: ${m.verdict ?? 'not judged'}`, 'class="h2"'));
  /** @type {Json[]} */
  const samples = (w.samples ?? []).filter((/** @type {Json} */ x) => Number.isFinite(x.residentBytes));
  if (samples.length < 2) return out.join('\n');
  const left = x0 + 52;
  const right = x0 + width - 16;
  const top = y0 + 24;
  const bottom = y0 + height - 56;
  /** @type {Array<{ label: string, color: string, value: (x: Json) => number | undefined }>} */
  const series = [
    { label: 'resident', color: '#2563eb', value: (x) => x.residentBytes },
    { label: 'heap used', color: '#d97706', value: (x) => x.heapBytes },
    { label: 'TCP memory (system)', color: '#6b7280', value: (x) => x.tcp?.memoryBytes },
  ];
  const tMax = samples[samples.length - 1].t;
  const yMax = Math.max(...samples.flatMap((x) => series.map((sr) => sr.value(x) ?? 0))) / 1e6;
  const xStep = niceStep(tMax / 60, 8);
  const xTop = Math.max(xStep, Math.ceil(tMax / 60 / xStep) * xStep);
  const yStep = niceStep(yMax, 5);
  const yTop = Math.ceil(yMax / yStep) * yStep || yStep;
  /** @param {number} t */
  const sx = (t) => left + (t / 60 / xTop) * (right - left);
  /** @param {number} mb */
  const sy = (mb) => bottom - (mb / yTop) * (bottom - top);
  for (let v = 0; v <= xTop + 1e-9; v += xStep) {
    out.push(line(sx(v * 60), top, sx(v * 60), bottom, 'class="grid"'));
    out.push(text(sx(v * 60), bottom + 16, String(Number(v.toPrecision(6))), 'class="tick" text-anchor="middle"'));
  }
  for (let v = 0; v <= yTop + 1e-9; v += yStep) {
    out.push(line(left, sy(v), right, sy(v), 'class="grid"'));
    out.push(text(left - 6, sy(v) + 4, tickLabel(Number(v.toPrecision(6))), 'class="tick" text-anchor="end"'));
  }
  out.push(text((left + right) / 2, bottom + 34, 'minutes of writes', 'class="axis" text-anchor="middle"'));
  out.push(text(x0 + 12, (top + bottom) / 2, 'MB', `class="axis" text-anchor="middle" transform="rotate(-90 ${fmt(x0 + 12)} ${fmt((top + bottom) / 2)})"`));
  for (const sr of series) {
    const pts = samples.filter((x) => Number.isFinite(sr.value(x)));
    if (pts.length < 2) continue;
    // `pts` holds only the samples this series has a value for.
    out.push(`<path d="${pts.map((x, i) => `${i ? 'L' : 'M'}${fmt(sx(x.t))},${fmt(sy((sr.value(x) ?? 0) / 1e6))}`).join(' ')}" fill="none" stroke="${sr.color}" stroke-width="2"/>`);
  }
  // The two points the rule compares.
  if (m.from && m.to) {
    out.push(line(sx(m.from.t), sy(m.from.bytes / 1e6), sx(m.to.t), sy(m.to.bytes / 1e6), 'class="goal"'));
    for (const p of [m.from, m.to]) {
      out.push(`<circle cx="${fmt(sx(p.t))}" cy="${fmt(sy(p.bytes / 1e6))}" r="4" fill="#dc2626"/>`);
      out.push(text(sx(p.t), sy(p.bytes / 1e6) + 16, formatMB(p.bytes), 'class="goaltext" text-anchor="middle"'));
    }
  }
  let lx = left;
  for (const sr of series) {
    out.push(`<rect x="${fmt(lx)}" y="${fmt(bottom + 42)}" width="12" height="10" fill="${sr.color}"/>`);
    out.push(text(lx + 16, bottom + 51, sr.label, 'class="legend"'));
    lx += 30 + sr.label.length * 6.4;
  }
  return out.join('\n');
}

/**
 * The chart a person reads at a glance: throughput against the baseline, latency distributions, convergence CDF.
 * @param {Json} results
 */
function renderSvg(results) {
  const W = 1100;
  const parts = [];
  parts.push(text(24, 34, `Traffic Manager bench, ${results.date.slice(0, 16).replace('T', ' ')} UTC`, 'class="h1"'));
  parts.push(text(24, 56, machineLine(results), 'class="sub"'));
  /** @type {Goal[]} */
  const evaluated = results.goals ?? evaluateGoals(results);
  const goals = evaluated.map((g) => `${g.met === null ? '·' : g.met ? '✔' : '✘'} ${g.short} ${g.brief ?? g.measured} (goal ${g.target})`);
  // As many goals on a line as fit the width (about 170 characters of 12 px text).
  const goalLines = [];
  for (const g of goals) {
    const last = goalLines.length - 1;
    if (last >= 0 && goalLines[last].length + 4 + g.length <= 170) goalLines[last] += `    ${g}`;
    else goalLines.push(g);
  }
  goalLines.forEach((l, i) => parts.push(text(24, 76 + i * 16, l, 'class="sub"')));
  const throughput = throughputPanel(results, 24, 110 + (goalLines.length - 1) * 16, W - 48);
  parts.push(throughput.svg);
  const panelTop = throughput.bottom + 16;
  const panelH = 400;
  parts.push(latencyPanel(results, 24, panelTop, (W - 48) / 2 - 12, panelH));
  parts.push(convergencePanel(results, 24 + (W - 48) / 2 + 12, panelTop, (W - 48) / 2 - 12, panelH));
  let H = panelTop + panelH + 8;
  if (results.watchSoak) {
    parts.push(soakPanel(results.watchSoak, 24, H + 16, W - 48, 320));
    H += 16 + 320;
  }
  const style = [
    'text { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; fill: #111827; }',
    '.h1 { font-size: 20px; font-weight: 700; }',
    '.h2 { font-size: 15px; font-weight: 600; }',
    '.sub { font-size: 12px; fill: #4b5563; }',
    '.label, .value, .legend { font-size: 12px; }',
    '.tick { font-size: 11px; fill: #4b5563; }',
    '.axis { font-size: 11px; fill: #374151; }',
    '.goaltext { font-size: 11px; fill: #dc2626; }',
    '.grid { stroke: #e5e7eb; stroke-width: 1; }',
    '.goal { stroke: #dc2626; stroke-width: 1.5; stroke-dasharray: 5 4; }',
  ].join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${fmt(H)}" viewBox="0 0 ${W} ${fmt(H)}" role="img">`,
    `<title>${escapeXml(`Traffic Manager bench, ${results.date}`)}</title>`,
    `<style>\n${style}\n</style>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

module.exports = {
  SOAK_RULE,
  QUIET_BUSY_SHARE,
  AT_CEILING,
  generatorVerdict,
  summarizeWrk,
  cpuBusyShare,
  peerRatios,
  leastSquaresSlope,
  memoryTrend,
  soakRuleText,
  DISTRIBUTION_PERCENTILES,
  LOAD_PHASES,
  GOALS,
  percentile,
  summarizeLatencies,
  evaluateGoals,
  formatMs,
  formatCount,
  machineLine,
  renderMarkdown,
  escapeXml,
  niceStep,
  logTicks,
  ninesPosition,
  renderSvg,
};
