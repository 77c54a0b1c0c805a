import { seededRandom } from './random';
import { aggregateHealth, type Verdict } from './health';
import { parseStatusRanges, primaryEndpoint, statusExpected } from './policy';
import { pickRanked, rankEndpoints, selectableGroups, selectEndpoint, type EndpointView, type Health } from './selection';

function ep(id: string, extra: Partial<EndpointView> = {}): EndpointView {
  return { id, url: `https://${id}.example`, priority: 1, weight: 1, state: 'enabled', health: 'unknown', ...extra };
}


function counts(endpoints: EndpointView[], picks: number, source: (i: number) => Parameters<typeof selectEndpoint>[1]): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < picks; i++) {
    const id = selectEndpoint(endpoints, source(i)).pick?.id ?? 'none';
    out[id] = (out[id] ?? 0) + 1;
  }
  return out;
}

describe('selectEndpoint', () => {
  const random = seededRandom(42);
  const r = () => ({ random: random() });

  it('is a ranking made once and picked from: the same picks, orders and fail-open as selecting each time', () => {
    const sets: EndpointView[][] = [
      [ep('a', { weight: 3 }), ep('b'), ep('c', { priority: 2 }), ep('d', { weight: 0 })],
      [ep('a', { health: 'unhealthy' }), ep('b', { health: 'unhealthy', priority: 3 }), ep('c', { state: 'draining', health: 'unhealthy' })],
      [ep('a', { weight: 0 }), ep('b', { weight: 0 }), ep('c', { state: 'disabled' })],
      [ep('a', { state: 'disabled' })],
    ];
    for (const endpoints of sets) {
      const ranking = rankEndpoints(endpoints);
      for (let i = 0; i < 200; i++) {
        const source = i % 2 === 0 ? { random: i / 200 } : { affinity: `user-${i}` };
        const once = pickRanked(ranking, source);
        const each = selectEndpoint(endpoints, source);
        expect([once.pick?.id, once.failOpen, once.order.map((e) => e.id)]).toEqual([each.pick?.id, each.failOpen, each.order.map((e) => e.id)]);
      }
    }
  });

  it('tier 1: the lowest priority among enabled, healthy or unknown endpoints with weight > 0', () => {
    const s = selectEndpoint([ep('backup', { priority: 2 }), ep('primary', { health: 'healthy' })], r());
    expect(s.pick?.id).toBe('primary');
    expect(s.failOpen).toBe(false);
    expect(s.order.map((e) => e.id)).toEqual(['primary', 'backup']);
  });

  it('an unhealthy primary fails over to the next priority; unknown is eligible', () => {
    const s = selectEndpoint([ep('primary', { health: 'unhealthy' }), ep('backup', { priority: 2, health: 'unknown' })], r());
    expect(s.pick?.id).toBe('backup');
    expect(s.order.map((e) => e.id)).toEqual(['backup', 'primary']);
  });

  it('weights 3:1 split the picks within 5% over 2,000 picks', () => {
    const c = counts([ep('blue', { weight: 3 }), ep('green', { weight: 1 })], 2000, r);
    expect(Math.abs((c['blue'] ?? 0) / 2000 - 0.75)).toBeLessThan(0.05);
    expect((c['blue'] ?? 0) + (c['green'] ?? 0)).toBe(2000);
  });

  it('tier 2: weight 0 standbys only when no endpoint with weight > 0 is eligible, uniform', () => {
    const standbys = [ep('main', { health: 'unhealthy' }), ep('s1', { weight: 0 }), ep('s2', { weight: 0 }), ep('later', { weight: 0, priority: 5 })];
    expect(selectEndpoint([ep('main'), ...standbys.slice(1)], r()).pick?.id).toBe('main');
    const c = counts(standbys, 2000, r);
    expect(c['later']).toBeUndefined();
    expect(Math.abs((c['s1'] ?? 0) / 2000 - 0.5)).toBeLessThan(0.05);
  });

  it('tier 3: draining endpoints only when no enabled one is eligible', () => {
    const list = [ep('old', { state: 'draining', health: 'healthy' }), ep('new', { health: 'unhealthy' }), ep('off', { state: 'disabled' })];
    const s = selectEndpoint(list, r());
    expect(s.pick?.id).toBe('old');
    expect(s.failOpen).toBe(false);
    expect(selectEndpoint([ep('old', { state: 'draining' }), ep('new')], r()).pick?.id).toBe('new');
  });

  it('tier 4: fail open over every enabled endpoint when all are unhealthy; draining when none is enabled', () => {
    const all = [ep('a', { health: 'unhealthy', weight: 0 }), ep('b', { health: 'unhealthy', priority: 2 }), ep('d', { state: 'draining', health: 'unhealthy' })];
    const s = selectEndpoint(all, r());
    expect(s.failOpen).toBe(true);
    expect(s.pick?.id).toBe('a');
    const drainingOnly = selectEndpoint([ep('d', { state: 'draining', health: 'unhealthy' }), ep('x', { state: 'disabled' })], r());
    expect(drainingOnly).toMatchObject({ failOpen: true, pick: { id: 'd' } });
  });

  it('nothing enabled or draining: no pick (no_enabled_endpoint); disabled endpoints are never picked', () => {
    const s = selectEndpoint([ep('x', { state: 'disabled', health: 'healthy' })], r());
    expect(s.pick).toBeUndefined();
    expect(s.order.map((e) => e.id)).toEqual(['x']);
  });

  it('affinity makes the weighted pick stable, spreads strings by weight, and moves only what it must', () => {
    const three = [ep('a', { weight: 3 }), ep('b', { weight: 1 })];
    for (const key of ['user-1', 'user-2', 'cart-99']) {
      const first = selectEndpoint(three, { affinity: key }).pick?.id;
      for (let i = 0; i < 5; i++) expect(selectEndpoint(three, { affinity: key }).pick?.id).toBe(first);
    }
    const c = counts(three, 2000, (i) => ({ affinity: `user-${i}` }));
    expect(Math.abs((c['a'] ?? 0) / 2000 - 0.75)).toBeLessThan(0.05);
    // b goes down: only b's strings move.
    const before = Array.from({ length: 500 }, (_, i) => selectEndpoint([...three, ep('c')], { affinity: `k${i}` }).pick?.id);
    const after = Array.from({ length: 500 }, (_, i) =>
      selectEndpoint([three[0] as EndpointView, { ...(three[1] as EndpointView), health: 'unhealthy' }, ep('c')], { affinity: `k${i}` }).pick?.id,
    );
    before.forEach((was, i) => {
      if (was !== 'b') expect(after[i]).toBe(was);
    });
  });
});

describe('primaryEndpoint (the url of route answers)', () => {
  it('is the first tier first choice: lowest priority, highest weight, enabled before standby before draining', () => {
    expect(primaryEndpoint([ep('a', { priority: 2 }), ep('b', { weight: 1 }), ep('c', { weight: 5 })]).id).toBe('c');
    expect(primaryEndpoint([ep('d', { state: 'draining' }), ep('s', { weight: 0, priority: 9 })]).id).toBe('s');
    expect(primaryEndpoint([ep('x', { state: 'disabled' }), ep('y', { state: 'disabled' })]).id).toBe('x');
  });
});

describe('expectedStatus', () => {
  it.each([
    ['200-299', 204, true],
    ['200-299', 301, false],
    ['200,204,300-302', 301, true],
    ['200, 204', 204, true],
  ])('%s with %d', (spec, status, ok) => {
    expect(statusExpected(parseStatusRanges(spec) ?? [], status)).toBe(ok);
  });
  it.each(['', 'abc', '600', '299-200', '20', '200-', '200,,204'])('%p is refused', (spec) => {
    expect(parseStatusRanges(spec)).toBeUndefined();
  });
});

describe('aggregateHealth', () => {
  const v = (prober: string, health: Health, since = 1000): Verdict => ({ prober, health, since, probedAt: since, error: null, errorAt: null });

  it('healthy or unhealthy only by a strict majority of the verdicts that take a side', () => {
    expect(aggregateHealth([v('a', 'healthy'), v('b', 'healthy')]).health).toBe('healthy');
    expect(aggregateHealth([v('a', 'unhealthy'), v('b', 'healthy')]).health).toBe('unknown');
    expect(aggregateHealth([v('a', 'unhealthy'), v('b', 'unhealthy'), v('c', 'healthy')]).health).toBe('unhealthy');
    expect(aggregateHealth([v('a', 'unhealthy')]).health).toBe('unhealthy');
    expect(aggregateHealth([v('a', 'unknown'), v('b', 'healthy')]).health).toBe('healthy');
    expect(aggregateHealth([]).health).toBe('unknown');
  });

  it('since: the probers record while it holds, else when the last verdict of the majority came; null when undecided', () => {
    expect(aggregateHealth([v('a', 'healthy', 1000), v('b', 'healthy', 3000)]).since).toBe(new Date(3000).toISOString());
    expect(aggregateHealth([v('a', 'healthy', 1000), v('b', 'healthy', 3000)], { health: 'healthy', since: 2000 }).since).toBe(new Date(2000).toISOString());
    expect(aggregateHealth([]).since).toBeNull();
  });

  it('the last probe error is the latest any prober saw', () => {
    const h = aggregateHealth([
      { ...v('a', 'unhealthy'), error: 'connect ECONNREFUSED', errorAt: 5000 },
      { ...v('b', 'unhealthy'), error: 'timeout after 1 s', errorAt: 6000 },
    ]);
    expect(h.lastError).toEqual({ message: 'timeout after 1 s', at: new Date(6000).toISOString(), prober: 'b' });
  });
});

describe('selectableGroups (the ranks of DNS SRV records)', () => {
  const ids = (groups: EndpointView[][]) => groups.map((g) => g.map((e) => e.id));

  it('groups tier 1 by priority, then standbys, then draining endpoints; unhealthy and disabled ones are left out', () => {
    const endpoints = [
      ep('draining', { state: 'draining' }),
      ep('p2', { priority: 2, weight: 5 }),
      ep('standby', { weight: 0 }),
      ep('p1b', { weight: 1 }),
      ep('p1a', { weight: 3 }),
      ep('down', { health: 'unhealthy' }),
      ep('off', { state: 'disabled' }),
    ];
    expect(ids(selectableGroups(endpoints))).toEqual([['p1a', 'p1b'], ['p2'], ['standby'], ['draining']]);
  });

  it('fails open as the selection does: every enabled endpoint in one group, or every draining one when none is enabled', () => {
    expect(ids(selectableGroups([ep('a', { health: 'unhealthy' }), ep('b', { health: 'unhealthy', priority: 2 }), ep('c', { state: 'draining', health: 'unhealthy' })]))).toEqual([['a', 'b']]);
    expect(ids(selectableGroups([ep('c', { state: 'draining', health: 'unhealthy' }), ep('d', { state: 'disabled' })]))).toEqual([['c']]);
    expect(selectableGroups([ep('d', { state: 'disabled' })])).toEqual([]);
  });
});
