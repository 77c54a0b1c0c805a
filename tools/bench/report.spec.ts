import {
  evaluateGoals,
  logTicks,
  niceStep,
  ninesPosition,
  percentile,
  renderMarkdown,
  renderSvg,
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
    settings: { connections: 50, durationSeconds: 10, warmupSeconds: 2, routes: 100, stack: 'started by the bench', logLevel: 'info' },
    phases: {
      baseline: phase(40_000, 3),
      hits: phase(30_000, 4, { cache: { HIT: 300_000, MISS: 0 } }),
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
    expect(goals['hits-share']).toMatchObject({ measured: '75.0%', met: true });
    expect(goals['hits-p99'].met).toBe(true);
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
    r.convergence = { ...r.convergence, timedOut: 3 };
    expect(evaluateGoals(r)[2]).toMatchObject({ met: false });
    expect(evaluateGoals(r)[2].measured).toContain('3 writes never seen');
    r.convergence = { ...r.convergence, timedOut: 0, failedWrites: 2, firstFailure: 'PUT: 503' };
    expect(evaluateGoals(r)[2]).toMatchObject({ met: false });
    expect(renderMarkdown(r)).toContain('2 PUTs failed');
    expect(renderSvg(r)).toContain('not on the curve: 2 writes failed');
  });
});

describe('renderMarkdown', () => {
  const md = renderMarkdown(results());

  it('puts every measurement beside the baseline', () => {
    expect(md).toContain('| measurement | throughput | p50 | p99 | p99.9 | max | notes |');
    expect(md).toContain('| baseline: bare Fastify, same body and auth check | 40,000 req/s |');
    expect(md).toContain('| resolver, cache hits | 30,000 req/s (75.0% of baseline) |');
    expect(md).toContain('resolver, database path (?consistency=strong)');
    expect(md).toContain('HIT 100%');
    expect(md).toContain('relay publish latency, during the writes |  | 4.20 ms | 23.0 ms |');
    expect(md).toContain('convergence: 1,000 writes at 100/s');
  });

  it('lists the goals with met or missed', () => {
    expect(md).toMatch(/\| ≥ 70% \| 75\.0% \| \*\*met\*\* \|/);
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
    // One curve per load phase, one for the CDF.
    expect(svg.match(/<path /g)?.length).toBe(6);
  });

  it('draws what a partial run has', () => {
    const partial = renderSvg(results({ phases: { hits: phase(30_000, 4) }, convergence: undefined }));
    expect(partial).not.toContain('NaN');
    expect(partial.match(/<path /g)?.length).toBe(1);
  });
});
