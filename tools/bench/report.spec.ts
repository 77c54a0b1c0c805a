import {
  cpuBusyShare,
  evaluateGoals,
  generatorVerdict,
  peerRatios,
  summarizeWrk,
  leastSquaresSlope,
  logTicks,
  memoryTrend,
  niceStep,
  ninesPosition,
  percentile,
  renderMarkdown,
  renderSvg,
  SOAK_RULE,
  summarizeLatencies,
} from './report.cjs';

function phase(requestsPerSecond: number, p99: number, extra: Record<string, unknown> = {}) {
  const latencies = Array.from({ length: 1000 }, (_, i) => ((i + 1) / 1000) * p99 * 0.99 * 1.2);
  return { connections: 50, durationSeconds: 10, requests: requestsPerSecond * 10, requestsPerSecond, non2xx: 0, errors: 0, timeouts: 0, ...summarizeLatencies(latencies), ...extra };
}

function results(overrides: Record<string, unknown> = {}) {
  const sortedMs = Array.from({ length: 1000 }, (_, i) => 5 + i * 0.03);
  return {
    date: '2026-11-25T12:00:00.000Z',
    machine: { cpu: 'Test CPU <R&D> "x"', cores: 2, memoryGiB: 24, os: 'Linux 6', node: 'v20.20.2', loadAverage: { before: [0.5, 0, 0], after: [1.5, 0, 0] } },
    git: { commit: '0123456789abcdef', dirty: false },
    settings: { connections: 50, durationSeconds: 10, warmupSeconds: 2, routes: 100, stack: 'started by the bench', logLevel: 'info', generator: 'wrk' },
    phases: {
      floor: phase(60_000, 2, { generator: 'wrk', generatorCpu: { seconds: 5, shareOfCore: 0.5 }, serverCpu: { seconds: 9.9, shareOfCore: 0.99 } }),
      baseline: phase(40_000, 3, { generator: 'wrk', generatorCpu: { seconds: 4, shareOfCore: 0.4 }, serverCpu: { seconds: 9.8, shareOfCore: 0.98 } }),
      hits: phase(30_000, 4, { cache: { HIT: 300_000, MISS: 0 }, generator: 'wrk', generatorCpu: { seconds: 3, shareOfCore: 0.3 } }),
      etcdRange: phase(6_000, 20, { generator: 'wrk', generatorCpu: { seconds: 0.8, shareOfCore: 0.08 } }),
      database: phase(2_000, 40, { mode: '?consistency=strong', cache: { BYPASS: 20_000 } }),
      bypass: phase(1_800, 45, { cache: { BYPASS: 18_000 } }),
      writes: phase(450, 120, { connections: 20, relayPublishMs: { p50: 4.2, p99: 23, events: 4500 } }),
    },
    convergence: {
      writes: 1000,
      ratePerSecond: 100,
      achievedRatePerSecond: 100,
      pollMs: 1,
      timeoutMs: 10_000,
      converged: 1000,
      timedOut: 0,
      failedWrites: 0,
      firstFailure: undefined as string | undefined,
      ms: { p50: percentile(sortedMs, 50), p99: percentile(sortedMs, 99), p999: percentile(sortedMs, 99.9), max: sortedMs[999] },
      sortedMs,
    },
    warnings: [],
    ...overrides,
  };
}

describe('percentile', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it('is the nearest rank', () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 99.9)).toBe(100);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile(hundred, 0)).toBe(1);
    expect(percentile([7], 99)).toBe(7);
  });

  it('is NaN without samples', () => {
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('summarizeLatencies', () => {
  it('sorts the samples and keeps the distribution for the chart', () => {
    const s = summarizeLatencies([5, 1, 4, 2, 3]);
    expect(s.samples).toBe(5);
    expect(s.latencyMs).toEqual({ p50: 3, p90: 5, p99: 5, p999: 5, max: 5 });
    expect(s.distribution[0]).toEqual([0, 1]);
    expect(s.distribution[s.distribution.length - 1]).toEqual([100, 5]);
  });

  it('gives nulls (valid JSON) for no samples', () => {
    expect(summarizeLatencies([]).latencyMs.p99).toBeNull();
  });
});

describe('axes', () => {
  it('steps by 1, 2 or 5 times a power of ten', () => {
    expect(niceStep(40_000, 6)).toBe(10_000);
    expect(niceStep(48, 6)).toBe(10);
    expect(niceStep(0.7, 5)).toBe(0.2);
    expect(niceStep(0)).toBe(1);
  });

  it('puts log ticks on 1, 2 and 5', () => {
    expect(logTicks(0.1, 100)).toEqual([0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]);
  });

  it('places percentiles by their nines', () => {
    expect(ninesPosition(0)).toBe(0);
    expect(ninesPosition(90)).toBeCloseTo(1);
    expect(ninesPosition(99.9)).toBeCloseTo(3);
  });
});

describe('evaluateGoals', () => {
  it('compares each measurement with the issue’s goal', () => {
    const goals = Object.fromEntries(evaluateGoals(results()).map((g) => [g.id, g]));
    expect(goals['hits-share']).toMatchObject({ target: '≥ 0.9', measured: '0.75 (30,000 / 40,000 req/s)', met: false });
    expect(goals['hits-p99']).toMatchObject({ target: '≤ 1.2×', met: false });
    expect(goals['hits-etcd']).toMatchObject({ target: '≥ 3×', measured: '5.00× (30,000 / 6,000 req/s)', met: true });
    expect(goals['convergence-p99'].met).toBe(true);
    expect(goals['writes']).toMatchObject({ measured: '450 PUT/s', met: false });
  });

  it('says what was not measured, and when the conditions differ', () => {
    const r = results({ phases: {}, convergence: undefined });
    r.settings.connections = 100;
    const goals = evaluateGoals(r);
    expect(goals.every((g) => g.met === null)).toBe(true);
    expect(goals[1].label).toContain('measured with 100 on 2');
  });

  it('compares the selection cost and the failover times with their goals, and renders them', () => {
    const fail = (p50: number, p99: number, missed = 0) => ({ p50, p90: p99, p99, p999: p99, max: p99, samples: 20 - missed, missed, sortedMs: [] });
    const r = {
      ...results(),
      policyHits: {
        routes: 100,
        endpointsPerRoute: 4,
        single: { requestsPerSecond: 10_000, p50Ms: 4, p99Ms: 9, non2xx: 0, errors: 0, rounds: [10_100, 9_900] },
        policy: { requestsPerSecond: 9_600, p50Ms: 4.2, p99Ms: 9.5, non2xx: 0, errors: 0, rounds: [9_700, 9_500] },
        costPercent: 4,
      },
      failover: { trials: 20, intervalSeconds: 1, threshold: 2, probers: 2, targetMs: 2100, resolver: fail(1500, 2050), sdk: fail(1510, 2300, 1), failback: fail(1200, 2000) },
    };
    const goals = Object.fromEntries(evaluateGoals(r).map((g) => [g.id, g]));
    expect(goals['policy-cost']).toMatchObject({ measured: '4%', met: true });
    expect(goals['failover-resolver']).toMatchObject({ target: '≤ 2,100 ms', measured: '2,050 ms (p50 1,500 ms)', met: true });
    expect(goals['failover-sdk']).toMatchObject({ measured: '2,300 ms (p50 1,510 ms), 1 missed', met: false });
    const md = renderMarkdown(r);
    expect(md).toContain('resolver, cache hits on routes of 4 probed endpoints (selection), alternating rounds | 9,600 req/s');
    expect(md).toContain("failover: primary stopped → the SDK's memory answer (looked up every 1 ms) picks the backup | 20 trials | 1,510 ms | 2,300 ms");
  });

  it('misses convergence when a write was never seen or failed', () => {
    const r = results();
    const convergenceGoal = () => evaluateGoals(r).find((g) => g.id === 'convergence-p99');
    r.convergence = { ...r.convergence, timedOut: 3 };
    expect(convergenceGoal()).toMatchObject({ met: false });
    expect(convergenceGoal()?.measured).toContain('3 writes never seen');
    r.convergence = { ...r.convergence, timedOut: 0, failedWrites: 2, firstFailure: 'PUT: 503' };
    expect(convergenceGoal()).toMatchObject({ met: false });
    expect(renderMarkdown(r)).toContain('2 PUTs failed');
    expect(renderSvg(r)).toContain('not on the curve: 2 writes failed');
  });
});

describe('renderMarkdown', () => {
  const md = renderMarkdown(results());

  it('puts every measurement beside the baseline', () => {
    expect(md).toContain('| measurement | throughput | p50 | p99 | p99.9 | max | notes |');
    expect(md).toContain('| baseline: bare Fastify, same body and auth check | 40,000 req/s |');
    expect(md).toContain('| resolver, cache hits | 30,000 req/s (0.75 of bare Fastify) |');
    expect(md).toContain('wrk 0.40 of a core, server 0.98');
    expect(md).toContain('resolver, database path (?consistency=strong)');
    expect(md).toContain('HIT 100%');
    expect(md).toContain('relay publish latency, during the writes |  | 4.20 ms | 23.0 ms |');
    expect(md).toContain('convergence: 1,000 writes at 100/s');
  });

  it('lists the goals with met or missed', () => {
    expect(md).toMatch(/\| ≥ 0\.9 \| 0\.75 \(30,000 \/ 40,000 req\/s\) \| \*\*missed\*\* \|/);
    expect(md).toMatch(/\| ≥ 500 PUT\/s \| 450 PUT\/s \| \*\*missed\*\* \|/);
  });

  it('names the machine and the commit', () => {
    expect(md).toContain('Test CPU <R&D> "x", 2 cores, 24 GiB RAM, Linux 6, Node v20.20.2, commit 0123456789');
  });

  it('renders a run with some phases only', () => {
    const partial = renderMarkdown(results({ phases: { hits: phase(30_000, 4) }, convergence: undefined }));
    expect(partial).toContain('| resolver, cache hits | 30,000 req/s |');
    expect(partial).toContain('not measured');
  });

  it("shows the primary's load with and without a read replica", () => {
    const mode = (name: string, opening: number, steady: number, reads: Record<string, number>) => ({
      mode: name,
      opening: { transactions: opening * 10, seconds: 10, perSecond: opening },
      steady: { transactions: steady * 20, seconds: 20, perSecond: steady },
      writesPerSecond: 20,
      readsByTarget: reads,
      failedRequests: 0,
    });
    const replicas = {
      settings: { resolvers: 10, streams: 10_000, tenants: 100, routesPerTenant: 10, seconds: 20, writeRate: 20, readRate: 100 },
      modes: [mode('primary only', 985.4, 305.6, { 'snapshot:primary': 10_000 }), mode('with a replica', 46.9, 270.6, { 'snapshot:replica': 10_000 })],
      note: 'transactions per second',
    };
    const md = renderMarkdown(results({ replicas }));
    expect(md).toContain("### Read replicas: the primary's load");
    expect(md).toContain('| primary only | 985 | 306 | 20.0 | snapshot:primary 10,000 | 0 |');
    expect(md).toContain('| with a replica | 47 | 271 | 20.0 | snapshot:replica 10,000 | 0 |');
  });

  it('shows the resolver\'s DNS beside Unbound, write → DNS answer and failover as dig sees it', () => {
    const server = (queriesPerSecond: number, p99: number, extra: Record<string, unknown> = {}) => ({
      queriesPerSecond,
      rounds: [queriesPerSecond - 100, queriesPerSecond + 100],
      ...summarizeLatencies(Array.from({ length: 1000 }, (_, i) => ((i + 1) / 1000) * p99 * 1.01)),
      sent: queriesPerSecond * 20,
      completed: queriesPerSecond * 20,
      lost: 0,
      rcodes: { NOERROR: queriesPerSecond * 20 },
      generatorCpu: { seconds: 8, shareOfCore: 0.4 },
      roundsGeneratorShare: [0.35, 0.45],
      serverCpu: { seconds: 19.8, shareOfCore: 0.99 },
      ...extra,
    });
    const dns = {
      zone: 'tm.internal.',
      routes: 1000,
      ttlSeconds: 5,
      dnsperf: { threads: 1, clients: 10, outstanding: 50, seconds: 10, warmupSeconds: 2, rounds: 2 },
      resolver: server(25_000, 3, { cache: { HIT: 500_000 } }),
      unbound: server(100_000, 1, { lost: 3 }),
      ratio: { queriesPerSecond: 0.25, p99: 3 },
      writeToAnswer: { writes: 200, answered: 200, timedOut: 0, failedWrites: 0, pollMs: 1, ms: { p50: 4.2, p90: 6, p99: 12.5, p999: 13, max: 13 } },
      failover: { trials: 5, intervalSeconds: 1, threshold: 2, probers: 2, targetMs: 2100, ms: { p50: 1800, max: 2050, missed: 0, sortedMs: [1500, 1700, 1800, 1900, 2050] }, digMs: 8.5 },
    };
    const md = renderMarkdown(results({ dns }));
    expect(md).toContain('### DNS');
    expect(md).toContain('1 thread, 10 clients, 50 queries in flight');
    expect(md).toMatch(/\| resolver \(the stack's\) \| 25,000 \| [^|]+ \| 3\.00 ms \| [^|]+ \| [^|]+ \| 24,900, 25,100 \| NOERROR ×500,000; HIT 100% \| 0\.40 of a core \| 0\.99 of a core \|/);
    expect(md).toContain('| Unbound, local-data | 100,000 |');
    expect(md).toContain('NOERROR ×2,000,000, 3 lost');
    expect(md).toContain("- Resolver: the server reached its ceiling, not the generator (dnsperf's busiest round: 0.45 of a core).");
    expect(md).toContain('Resolver / Unbound: 0.25 of its queries per second; its p99 3.00 times Unbound\'s.');
    expect(md).toContain('p50 4.20 ms, p99 12.5 ms, max 13.0 ms (200 answered; 0 not within 10 s, 0 PUTs failed)');
    expect(md).toContain('median 1,800 ms, max 2,050 ms; every trial 1,500, 1,700, 1,800, 1,900, 2,050 ms');
  });

  it('leaves out the load table when no phase of it ran', () => {
    const none = renderMarkdown(results({ phases: {}, convergence: undefined }));
    expect(none).not.toContain('| measurement |');
    expect(none).toContain('| goal | target | measured | |');
  });
});

describe('renderSvg', () => {
  const svg = renderSvg(results());

  it('is one SVG document with balanced elements and no NaN', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<text /g)?.length).toBe(svg.match(/<\/text>/g)?.length);
    expect(svg).not.toContain('NaN');
    expect(svg).not.toContain('undefined');
  });

  it('escapes text', () => {
    expect(svg).toContain('Test CPU &lt;R&amp;D&gt; &quot;x&quot;');
    expect(svg).not.toContain('<R&D>');
  });

  it('draws the throughput bars, the latency curves and the convergence CDF with their goals', () => {
    expect(svg).toContain('Requests per second');
    expect(svg).toContain('Latency by percentile');
    expect(svg).toContain('Convergence');
    expect(svg).toContain('goal: p99 &lt; 50 ms');
    expect(svg).toContain('goal: 500 PUT/s');
    expect(svg).toContain('goal: hits p99 ≤ 1.2× bare Fastify');
    // One curve per load phase (the floor and etcd's range among them), one for the CDF.
    expect(svg.match(/<path /g)?.length).toBe(8);
  });

  it('draws what a partial run has', () => {
    const partial = renderSvg(results({ phases: { hits: phase(30_000, 4) }, convergence: undefined }));
    expect(partial).not.toContain('NaN');
    expect(partial.match(/<path /g)?.length).toBe(1);
  });
});

/**
 * A soak's samples every 10 s for `minutes`: resident memory `mb(t seconds)` in MB, the heap
 * `heap(t)` (default: resident less 150 MB, so that it falls when resident does).
 */
function soakSamples(minutes: number, mb: (t: number) => number, heap: (t: number) => number = (t) => mb(t) - 150) {
  return Array.from({ length: minutes * 6 + 1 }, (_, i) => {
    const t = i * 10;
    return {
      t,
      residentBytes: mb(t) * 1e6,
      heapBytes: heap(t) * 1e6,
      streams: 10_002,
      closed: { slow: i > 30 ? 1000 : 0 },
      refused: 0,
      tcp: { inuse: 10_100, orphan: 0, timeWait: 5, memoryBytes: 150e6 },
      writes: t * 100,
      clients: {
        readersOpen: 9000,
        nonReadersOpen: 1000,
        cuts: i > 30 ? 1000 : 0,
        reopens: i > 30 ? 1000 : 0,
        unreadClientBytes: 120e6,
        window: { deliveries: 90_000, missing: 0, p50: 5, p90: 20, p99: 40, p999: 60, max: 80 },
      },
    };
  });
}

/** A soak result as soak.mjs returns it, around `samples`. */
function soak(samples: ReturnType<typeof soakSamples>) {
  return {
    streams: 10_000,
    readers: 9000,
    nonReaders: 1000,
    tenants: 100,
    streamsPerTenant: 100,
    ratePerSecond: 100,
    minutes: 10,
    sampleSeconds: 10,
    memorySteps: [
      { label: 'before the soak streams', streams: 2, residentBytes: 150e6, heapBytes: 50e6 },
      { label: '9000 readers open', streams: 9002, residentBytes: 240e6, heapBytes: 110e6 },
      { label: '1000 non-readers open too', streams: 10_002, residentBytes: 255e6, heapBytes: 115e6 },
    ],
    perStream: { reader: { residentBytes: 10_000, heapBytes: 6_667 }, nonReader: { residentBytes: 15_000, heapBytes: 5_000 } },
    memory: memoryTrend(samples),
    heap: memoryTrend(samples, 'heapBytes'),
    writes: { ok: 60_000, failed: 0, perSecond: 100, lateStarts: 0 },
    closed: { slow: 1000, client: 0 },
    refused: 0,
    cuts: 1000,
    reopens: 1000,
    readerReconnects: 0,
    delivery: { deliveries: 5_400_000, missing: 12, late: 10, unanswered: 90, graceSeconds: 30, ms: { p50: 5, p90: 20, p99: 40, p999: 60, max: 90 } },
    samples,
  };
}

/** A heap collected every `period` seconds: resident climbs `climb` MB between collections, from `floor(t)`. */
const sawtooth = (period: number, climb: number, floor: (t: number) => number) => (t: number) => floor(t) + ((t % period) / period) * climb;

describe('the soak: flat or growing', () => {
  it('fits a least-squares line', () => {
    expect(leastSquaresSlope([[0, 1], [1, 3], [2, 5]])).toBeCloseTo(2);
    expect(leastSquaresSlope([[0, 1], [1, 2], [2, 0], [3, 1]])).toBeCloseTo(-0.2);
    expect(leastSquaresSlope([[1, 1]])).toBeNaN();
    expect(leastSquaresSlope([[1, 1], [1, 2]])).toBeNaN();
  });

  it('compares the floors after the collections: memory swinging by 300 MB is flat when they hold', () => {
    // Collected every 2 minutes (at 2:00, 4:00, ...), climbing 300 MB in between, from 300 MB.
    const m = memoryTrend(soakSamples(10, sawtooth(120, 300, () => 300)));
    expect(m).toMatchObject({
      verdict: 'flat',
      samples: 61,
      secondHalfFromSeconds: 300,
      collections: 3,
      from: { t: 360, bytes: 300e6 },
      to: { t: 600, bytes: 300e6 },
      risePercent: 0,
      boundPercent: SOAK_RULE.risePercent,
    });
    expect(m.rule).toContain(`at most ${SOAK_RULE.risePercent}% above the first`);
  });

  it('calls floors that rise by more than the bound growing', () => {
    // The floor climbs 100 MB between 6:00 and 10:00: +33%.
    expect(memoryTrend(soakSamples(10, sawtooth(120, 300, (t) => 300 + Math.max(0, t - 360) / 2.4)))).toMatchObject({
      verdict: 'growing',
      from: { t: 360, bytes: 300e6 },
      to: { t: 600, bytes: 400e6 },
      risePercent: 33.3,
    });
    expect(memoryTrend(soakSamples(10, sawtooth(120, 300, (t) => (t >= 450 ? 350 : 300))))).toMatchObject({ verdict: 'flat', risePercent: 16.7 });
    expect(memoryTrend(soakSamples(10, sawtooth(120, 300, (t) => (t >= 450 ? 370 : 300))))).toMatchObject({ verdict: 'growing', risePercent: 23.3 });
  });

  it('without collections, compares the half’s first and last samples, within 5%', () => {
    expect(memoryTrend(soakSamples(10, (t) => 400 + t / 30))).toMatchObject({ verdict: 'flat', collections: 0, from: { t: 300 }, to: { t: 600 }, risePercent: 2.4, boundPercent: SOAK_RULE.quietRisePercent });
    expect(memoryTrend(soakSamples(10, (t) => 400 + t / 10))).toMatchObject({ verdict: 'growing', risePercent: 7 });
    expect(memoryTrend(soakSamples(10, (t) => 500 - t / 10)).verdict).toBe('flat');
  });

  it('does not judge one floor alone, nor too few samples', () => {
    // One collection, at 6:00.
    const once = memoryTrend(soakSamples(10, (t) => (t < 360 ? 300 + t / 2 : 300 + (t - 360) / 2)));
    expect(once).toMatchObject({ verdict: null, collections: 1, to: null, risePercent: null, reason: 'one collection in the second half: nothing to compare its floor with' });
    expect(memoryTrend(soakSamples(1, (t) => 400 + t))).toMatchObject({ verdict: null, reason: '4 samples in the second half, fewer than 6' });
    expect(memoryTrend([])).toMatchObject({ verdict: null, samples: 0, reason: 'no samples' });
    expect(memoryTrend([{ t: 0, residentBytes: NaN }])).toMatchObject({ verdict: null, samples: 0 });
  });

  it('makes the verdict the soak goal, and renders the steps, the samples and the rule', () => {
    const flat = { ...results(), watchSoak: soak(soakSamples(10, sawtooth(120, 300, () => 300))) };
    const goal = evaluateGoals(flat).find((g) => g.id === 'soak-memory');
    expect(goal).toMatchObject({ met: true, target: `flat (the second half's last floor ≤ ${SOAK_RULE.risePercent}% above its first)` });
    expect(goal?.measured).toBe('flat: the floors after the collections at 6:00 and 10:00: 300.0 MB → 300.0 MB (0%, bound 20%); 300.0 MB at the start, 300.0 MB at the end, 575.0 MB at most');
    const md = renderMarkdown(flat);
    expect(md).toContain(
      '| watch soak: 10,000 streams over 100 tenants on one resolver (1,000 never reading), 100 writes/s for 10 min, write answered → event at each reader | 5,400,000 deliveries | 5.00 ms | 40.0 ms | 60.0 ms | 90.0 ms | ' +
        '12 missing (not within 30 s of the answer), 10 arrived later, 90 of writes whose answer never came; 1,000 non-readers cut and 1,000 reopened; memory below |',
    );
    expect(md).toContain("### Watch soak: the resolver's memory");
    expect(md).toContain('| 9000 readers open | 9,002 | 240.0 MB | 110.0 MB | 9.8 KiB resident, 6.5 KiB heap (a reader) |');
    expect(md).toContain('| 1000 non-readers open too | 10,002 | 255.0 MB | 115.0 MB | 14.6 KiB resident, 4.9 KiB heap (a non-reader) |');
    // One row a minute, the last sample always.
    expect(md).toContain('| 0:00 | 300.0 MB | 150.0 MB | 10,002 | 9,000 | 1,000 | 0 / 0 | 0 | 150.0 MB | 120.0 MB | 40.0 ms |');
    expect(md).toContain('| 10:00 | 300.0 MB |');
    expect(md.match(/^\| \d+:\d\d \|/gm)).toHaveLength(11);
    expect(md).toContain('3 collections in the second half (from 5:00), the floors after the collections at 6:00 and 10:00: 300.0 MB → 300.0 MB (0%, bound 20%): **flat**. Rule: flat: over the second half');
    expect(md).toContain('Closed by the resolver during the writes: slow 1,000; refused 0');

    const growing = { ...results(), watchSoak: soak(soakSamples(10, sawtooth(120, 300, (t) => (t >= 450 ? 400 : 300)))) };
    expect(evaluateGoals(growing).find((g) => g.id === 'soak-memory')).toMatchObject({ met: false, measured: expect.stringMatching(/^growing: the floors after the collections at 6:00 and 10:00: 300\.0 MB → 400\.0 MB \(\+33\.3%, bound 20%\)/) });
    expect(renderMarkdown(growing)).toContain('(+33.3%, bound 20%): **growing**');

    const short = { ...results(), watchSoak: { ...soak(soakSamples(1, (t) => 400 + t)), minutes: 1 } };
    expect(evaluateGoals(short).find((g) => g.id === 'soak-memory')).toMatchObject({ met: null, measured: expect.stringMatching(/^not judged \(4 samples in the second half, fewer than 6\): no collection: 0:30 and 1:00/) });
  });

  it('draws the soak’s memory and the two points the rule compares', () => {
    const svg = renderSvg({ ...results(), watchSoak: soak(soakSamples(10, sawtooth(120, 300, (t) => (t >= 450 ? 400 : 300)))) });
    expect(svg).toContain('Watch soak: the resolver&apos;s memory, 10,000 streams (1,000 never reading), 100 writes/s: growing');
    expect(svg).toContain('✘ soak memory growing, 300.0 MB → 400.0 MB (+33.3%) (goal flat');
    expect(svg).toContain('>300.0 MB</text>');
    expect(svg).toContain('>400.0 MB</text>');
    expect(svg).not.toContain('NaN');
    expect(svg).not.toContain('undefined');
    // Resident, heap and TCP memory, beside the load phases' curves and the CDF.
    expect(svg.match(/<path /g)?.length).toBe(11);
  });
});

describe('the prober with a hostile tenant', () => {
  const stage = (name: string, hostile: number, left: number) => ({
    name,
    seconds: 30,
    probesPerSecond: { honest: 199.8, hostile },
    outcomes: { honest: { success: 5994 }, hostile: { failure: hostile * 30 } },
    honestProbesAtServersPerSecond: 199.8,
    hostileConnectionsPerSecond: hostile,
    waitMs: { p50: hostile ? 500 : 0.5, p99: hostile ? 9_500 : 1, tenants: 'every tenant (the histogram has no tenant label)' },
    honestGapMs: { p50: 1000, p99: 1050, max: 1080, gaps: 5990 },
    healthPolls: 30,
    honestLeftHealthy: left,
    honestNotHealthy: [],
    hostilePeakInFlight: hostile ? 32 : 0,
    hostilePeakInFlightByProber: hostile ? [32, 31] : [0, 0],
    share: hostile ? [32, 32] : [64, 64],
    probedTenants: hostile ? [2, 2] : [1, 1],
  });
  const prober = (left: number) => ({
    honest: { tenant: 'b-honest', routes: 25, endpoints: 100 },
    hostile: { tenant: 'b-hostile', routes: 16, endpoints: 256 },
    check: { path: '/healthz', intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2 },
    probers: 2,
    stages: [stage('without the hostile tenant', 0, 0), stage('with the hostile tenant', 61.6, left)],
  });

  it('meets its goal only when no honest endpoint left healthy', () => {
    expect(evaluateGoals({ ...results(), proberHostile: prober(0) }).find((g) => g.id === 'prober-honest-health')).toMatchObject({ met: true, measured: '0 and 0 of 100' });
    expect(evaluateGoals({ ...results(), proberHostile: prober(3) }).find((g) => g.id === 'prober-honest-health')).toMatchObject({ met: false, measured: '0 and 3 of 100' });
    const unread = prober(0);
    unread.stages[1].healthPolls = 0;
    expect(evaluateGoals({ ...results(), proberHostile: unread }).find((g) => g.id === 'prober-honest-health')).toMatchObject({ met: null, measured: 'not read' });
  });

  it('renders one row per stage', () => {
    const md = renderMarkdown({ ...results(), proberHostile: prober(0) });
    expect(md).toContain('### Prober with a hostile tenant');
    expect(md).toContain('| without the hostile tenant (30 s) | 199.8 | 0 | 0.50 ms / 1.00 ms | 1,000 ms / 1,050 ms / 1,080 ms | 0 of 100 (30 reads) | 0 (64, 64) |');
    expect(md).toContain('| with the hostile tenant (30 s) | 199.8 | 61.6 | 500 ms / 9,500 ms | 1,000 ms / 1,050 ms / 1,080 ms | 0 of 100 (30 reads) | 32 (32, 32) |');
  });
});

describe('the noisy neighbour', () => {
  const ms = (p50: number, p99: number, max: number) => ({ p50, p90: p99, p99, p999: max, max });
  const stage = (name: string, { refused = 0, missing = 0, left = 0, missed = 0, polls = 30 } = {}) => ({
    name,
    seconds: 30.4,
    resolve: { ratePerSecond: 200, requests: 6000, ok: 6000 - refused, perSecond: 197.4, refused, statuses: { 200: 6000 - refused, ...(refused ? { 429: refused } : {}) }, errors: 0, first: refused ? 'resolve: 429 {}' : undefined, ms: ms(1.2, 3.4, 12) },
    other: { requests: 1200, refused: 0, statuses: { 200: 900, 201: 300 }, errors: 0, first: undefined },
    watch: { writeRatePerSecond: 10, writes: 300, deliveries: 300 - missing, missing, graceSeconds: 5, ms: ms(4.5, 20, 31), reconnects: 0, refusals: {} },
    failover: { trials: 5, missed, ms: ms(1600, 2050, 2050), sortedMs: [1400, 1500, 1600, 1900, 2050] },
    health: { endpoints: 17, polls, leftHealthy: left, notHealthy: left ? ['q/svc-0/prod#e1: unknown'] : [] },
    probesPerSecond: 36,
    cpu: { resolverCores: 0.4, machineBusyPercent: 55 },
    appRefusals: refused ? { rate: refused } : {},
  });
  const noisy = (withA: Partial<Parameters<typeof stage>[1]> = {}) => {
    const a = stage('B with A', withA);
    return {
      seconds: 30,
      b: {
        tenant: 'q-b',
        key: 'a stored key of its own (routes:write)',
        resolveRatePerSecond: 200,
        writeRatePerSecond: 10,
        routes: 4,
        probedEndpoints: 18,
        failover: { pollMs: 5, check: { path: '/', intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2 }, targetMs: 2100 },
      },
      a: {
        tenant: 'q-a',
        keys: 3,
        probes: { endpoints: 256, routes: 16, check: { path: '/healthz', intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2 }, overQuota: { status: 409, code: 'tenant_probe_quota' } },
        streams: {
          wanted: 2000,
          keys: [1000, 1000],
          opened: 2000,
          statuses: { 200: 2000 },
          codes: {},
          overQuota: [
            { quota: 'per key', status: 429, code: 'watch_stream_quota' },
            { quota: 'per key', status: 429, code: 'watch_stream_quota' },
            { quota: 'per tenant', status: 429, code: 'watch_stream_quota' },
          ],
        },
        flood: {
          ratePerSecond: 3000,
          limitPerSecond: 1000,
          total: {
            sent: 120_000,
            answered: 120_000,
            skipped: 0,
            errors: 0,
            statuses: { 200: 40_000, 429: 80_000 },
            codes: { rate_limited: 80_000 },
            refusal: { status: 429, code: 'rate_limited', retryAfter: '1', rateLimit: '"default";r=0;t=1', rateLimitPolicy: '"default";q=1000;w=1' },
            seconds: 40,
          },
        },
      },
      stages: [
        stage('B without A'),
        {
          ...a,
          a: {
            flood: { seconds: 30.4, sent: 91_200, answered: 91_200, perSecond: 3000, statuses: { 200: 30_400, 429: 60_800 }, codes: { rate_limited: 60_800 }, skipped: 0, errors: 0 },
            probesInFlightPeak: [32, 32],
            resolverStreams: { atStart: 2003, atEnd: 2003 },
            streamsClosed: {},
            appRefusals: { rate: 60_800 },
          },
        },
      ],
    };
  };
  const goalsOf = (n: ReturnType<typeof noisy>) => Object.fromEntries(evaluateGoals({ ...results(), noisyNeighbour: n }).map((g) => [g.id, g]));

  it('meets the issue’s goals when B was never refused, got every event, kept its health and failed over', () => {
    const goals = goalsOf(noisy());
    expect(goals['noisy-refused']).toMatchObject({ measured: '0 of 7,200 with A (0 of 7,200 without)', met: true });
    expect(goals['noisy-events']).toMatchObject({ measured: '0 of 300 with A (0 of 300 without)', met: true });
    expect(goals['noisy-health']).toMatchObject({ measured: '0 of 17 with A (0 of 17 without)', met: true });
    expect(goals['noisy-failover']).toMatchObject({ measured: '5 of 5 trials, p50 1,600 ms, max 2,050 ms with A (5 of 5 trials, p50 1,600 ms, max 2,050 ms without)', met: true });
  });

  it('misses a goal when B is refused, loses an event, an endpoint or a failover beside A', () => {
    const goals = goalsOf(noisy({ refused: 3, missing: 2, left: 1, missed: 1 }));
    expect(goals['noisy-refused']).toMatchObject({ measured: '3 of 7,200 with A (0 of 7,200 without)', met: false });
    expect(goals['noisy-events']).toMatchObject({ measured: '2 of 300 with A (0 of 300 without)', met: false });
    expect(goals['noisy-health']).toMatchObject({ met: false });
    expect(goals['noisy-failover']).toMatchObject({ met: false, brief: '4 of 5 with A (5 of 5 without)' });
    expect(goalsOf(noisy({ polls: 0 }))['noisy-health']).toMatchObject({ met: null, measured: 'not read with A (0 of 17 without)' });
  });

  it('says the goals were not measured without the phase', () => {
    const goals = evaluateGoals(results()).filter((g) => g.id.startsWith('noisy-'));
    expect(goals.map((g) => g.id)).toEqual(['noisy-refused', 'noisy-events', 'noisy-health', 'noisy-failover']);
    expect(goals.every((g) => g.met === null && g.measured === 'not measured')).toBe(true);
  });

  it('renders B without A beside B with A, and what A was answered', () => {
    const md = renderMarkdown({ ...results(), noisyNeighbour: noisy({ refused: 3 }) });
    expect(md).toContain('### Noisy neighbour: tenant B without and with tenant A');
    expect(md).toContain('| tenant B | without A | with A | goal |');
    expect(md).toContain('| resolve p50 / p99 / max | 1.20 ms / 3.40 ms / 12.0 ms | 1.20 ms / 3.40 ms / 12.0 ms |  |');
    expect(md).toContain('| resolves refused or failed | 0 of 6,000 | 3 of 6,000 | 0 |');
    expect(md).toContain("| refusals the apps counted for B's tenant (tm_quota_refusals_total) | none | rate ×3 | none |");
    expect(md).toContain('| watch: events missing | 0 of 300 | 0 of 300 | 0 |');
    expect(md).toContain('| failover: trials, p50 / max | 5: 1,600 ms / 2,050 ms | 5: 1,600 ms / 2,050 ms | every trial picks the backup (target ≤ 2,100 ms) |');
    expect(md).toContain('| endpoints that left healthy | 0 of 17 (30 reads) | 0 of 17 (30 reads) | 0 |');
    expect(md).toContain("| the resolver's CPU (cores); the machine busy (all its cores) | 0.4; 55% | 0.4; 55% |  |");
    expect(md).toContain('one route more: 409 tenant_probe_quota; its probes in flight at most 32, 32 (per prober) |');
    expect(md).toContain('200 ×2,000; over the quotas: per key: 429 watch_stream_quota, per key: 429 watch_stream_quota, per tenant: 429 watch_stream_quota;');
    expect(md).toContain('| 3,000 resolves per second on one key | during the stage 3,000/s answered: 200 ×30,400, 429 ×60,800 (codes: rate_limited ×60,800); in all 200 ×40,000, 429 ×80,000; a refusal: 429 rate_limited, Retry-After 1, RateLimit "default";r=0;t=1, RateLimit-Policy "default";q=1000;w=1 |');
    expect(md).toContain("| the apps' count of A's refusals during the stage (tm_quota_refusals_total) | rate ×60,800 |");
    expect(md).toMatch(/\| noisy neighbour: tenant B's requests refused .* \| 0 \| 3 of 7,200 with A \(0 of 7,200 without\) \| \*\*missed\*\* \|/);
  });

  it('puts the goals in the chart’s header', () => {
    const svg = renderSvg({ ...results(), noisyNeighbour: noisy() });
    expect(svg).toContain('✔ B refused 0 with A (0 without) (goal 0)');
    expect(svg).toContain('✔ B failover 5 of 5 with A (5 of 5 without) (goal every trial)');
    expect(svg).not.toContain('NaN');
    expect(svg).not.toContain('undefined');
  });
});

describe('peers in the same run', () => {
  const raw = {
    requests: 100_500,
    ok: 100_000,
    non2xx: 500,
    statuses: { '200': 100_000, '429': 500 },
    durationUs: 10_000_000,
    latencyUs: [[0, 120], [25, 800], [50, 1_200], [75, 1_700], [90, 2_400], [95, 3_000], [99, 5_500], [99.5, 7_000], [99.9, 9_100], [99.95, 9_900], [99.99, 12_000], [100, 15_000]],
    errors: { connect: 0, read: 2, write: 1, timeout: 3 },
    cpuTicks: 430,
  };

  it('keeps a wrk run as the other load phases are kept, with the generator and server CPU as shares of a core', () => {
    const r = summarizeWrk(raw, { connections: 50, clockTicks: 100, serverCpuSeconds: 9.7 });
    expect(r).toMatchObject({ generator: 'wrk', connections: 50, durationSeconds: 10, requests: 100_500, ok: 100_000, requestsPerSecond: 10_000, non2xx: 500, errors: 3, timeouts: 3 });
    expect(r.latencyMs).toEqual({ p50: 1.2, p90: 2.4, p99: 5.5, p999: 9.1, max: 15 });
    expect(r.distribution[0]).toEqual([0, 0.12]);
    expect(r.generatorCpu).toEqual({ seconds: 4.3, shareOfCore: 0.43 });
    expect(r.serverCpu).toEqual({ seconds: 9.7, shareOfCore: 0.97 });
    expect(summarizeWrk({ ...raw, cpuTicks: -1 }, { connections: 50, clockTicks: 100 })).toMatchObject({ generatorCpu: null, serverCpu: null });
  });

  it('says which was the limit: the server at a core, the generator at a core, or neither', () => {
    expect(generatorVerdict({ generatorCpu: { shareOfCore: 0.5 }, serverCpu: { shareOfCore: 0.98 } })).toContain('the server reached its ceiling');
    expect(generatorVerdict({ generatorCpu: { shareOfCore: 0.95 }, serverCpu: { shareOfCore: 0.7 } })).toContain('the generator was at its ceiling');
    expect(generatorVerdict({ generatorCpu: { shareOfCore: 0.3 }, serverCpu: { shareOfCore: 0.4 } })).toContain('neither reached a core');
  });

  it('reads how busy the machine was from two readings of /proc/stat', () => {
    const before = 'cpu  1000 0 500 8000 100 0 0 0 0 0\ncpu0 1 2 3 4\n';
    const after = 'cpu  1100 0 550 8300 150 0 0 0 0 0\ncpu0 1 2 3 4\n';
    // 500 ticks passed, 350 of them idle or waiting for I/O: 30% busy.
    expect(cpuBusyShare(before, after)).toBe(0.3);
    expect(cpuBusyShare('', after)).toBeNull();
  });

  const watchRun = (streams: number, p50: number, p99: number, extra: Record<string, unknown> = {}) => ({
    streams,
    writes: 1000,
    failedWrites: 0,
    ratePerSecond: 100,
    lateStarts: 0,
    deliveries: streams * 10,
    missing: 0,
    ms: { p50, p90: p99, p99, p999: p99, max: p99 },
    memory: { residentPerStreamBytes: 15_000, heapPerStreamBytes: 9_000 },
    ...extra,
  });

  function withPeers() {
    const ours = [watchRun(1_000, 4, 40), watchRun(10_000, 30, 300, { missing: 0 })];
    return {
      ...results(),
      policyHits: {
        routes: 100,
        endpointsPerRoute: 4,
        single: { requestsPerSecond: 30_000, p50Ms: 1.5, p99Ms: 4, non2xx: 0, errors: 0, rounds: [30_000], generator: 'wrk', generatorCpu: { seconds: 3, shareOfCore: 0.3 }, serverCpu: null },
        policy: { requestsPerSecond: 27_000, p50Ms: 1.7, p99Ms: 4.4, non2xx: 0, errors: 0, rounds: [27_000], generator: 'wrk', generatorCpu: { seconds: 2.7, shareOfCore: 0.27 }, serverCpu: null },
        costPercent: 10,
      },
      watchRuns: ours,
      etcdWatch: [
        { ...watchRun(1_000, 3, 20), prefixes: 100, memory: { residentPerStreamBytes: 6_000 } },
        { ...watchRun(10_000, 50, 400), prefixes: 100, memory: { residentPerStreamBytes: 6_500 } },
      ],
      quiet: [
        { phase: 'floor', busyShare: 0.05 },
        { phase: 'hits', busyShare: 0.4 },
      ],
    };
  }

  it('gives every figure that matters as a ratio to its peer', () => {
    const r = peerRatios(withPeers());
    expect(r).toMatchObject({ fastifyOfFloor: 0.667, hitsOfFastify: 0.75, hitsP99OfFastify: 1.333, hitsOfEtcd: 5, probedOfSingle: 0.9, probedOfFastify: 0.675 });
    expect(r.watch.map((w) => [w.streams, w.p99OfEtcd])).toEqual([
      [1_000, 2],
      [10_000, 0.75],
    ]);
    expect(peerRatios(results({ phases: {} }))).toMatchObject({ hitsOfFastify: null, hitsOfEtcd: null, watch: [] });
  });

  it('judges the watch at 1,000 streams on its own and at 10,000 against etcd', () => {
    const goals = Object.fromEntries(evaluateGoals(withPeers()).map((g) => [g.id, g]));
    expect(goals['watch-p99']).toMatchObject({ measured: '40.0 ms', met: true });
    expect(goals['watch-etcd']).toMatchObject({ measured: '0.75× (300 ms / 400 ms)', met: true });
    const r = withPeers();
    r.watchRuns[1] = watchRun(10_000, 30, 300, { missing: 12 });
    expect(evaluateGoals(r).find((g) => g.id === 'watch-etcd')).toMatchObject({ measured: '0.75× (300 ms / 400 ms), ours 12 missing', met: false });
    r.etcdWatch[1] = { ...r.etcdWatch[1], missing: 3_900 };
    expect(evaluateGoals(r).find((g) => g.id === 'watch-etcd')?.measured).toContain('etcd 3,900 missing');
    expect(evaluateGoals(results()).find((g) => g.id === 'watch-etcd')).toMatchObject({ measured: 'not measured', met: null });
  });

  it('puts the read path beside its peers, the watch beside etcd’s, and how busy the machine was', () => {
    const md = renderMarkdown(withPeers());
    expect(md).toContain('| server | req/s | p50 | p99 | share of bare Fastify | generator CPU (share of a core) | server CPU |');
    expect(md).toContain('| Node `http` floor, constant body | 60,000 |');
    expect(md).toMatch(/\| bare Fastify, the same answer, same bearer check \| 40,000 \| [^|]+ \| [^|]+ \| 1\.00 \| 0\.40 \| 0\.98 \|/);
    expect(md).toMatch(/\| resolver cache hits \(4-endpoint probed: policy-hits\) \| 27,000 \| 1\.70 ms \| 4\.40 ms \| 0\.68 \| 0\.27 \| – \|/);
    expect(md).toMatch(/\| etcd 3\.4 serializable range over its JSON gateway \| 6,000 \| [^|]+ \| [^|]+ \| 0\.15 \|/);
    expect(md).toContain('hits / etcd range 5.00');
    expect(md).toContain('the server reached its ceiling, not the generator');
    expect(md).toContain('| 10,000 | 30.0 ms | 300 ms | 50.0 ms | 400 ms | 0.75 | 0 / 0 | 14.6 KiB / 6.3 KiB |');
    expect(md).toContain('floor 5%, hits 40%');
    expect(md).toContain("Load: wrk (Debian's, one thread) in a process of its own");
  });
});
