import { Counter, Histogram, Registry } from 'prom-client';
import { HotCounter, HotHistogram } from './hot-metrics';

/** The same calls on prom-client's own metrics and on the hot ones, in two registries with the same default labels. */
function registries(): [Registry, Registry] {
  const own = new Registry();
  const hot = new Registry();
  own.setDefaultLabels({ app: 'test' });
  hot.setDefaultLabels({ app: 'test' });
  return [own, hot];
}

describe('hot metrics', () => {
  it('a histogram scrapes exactly as prom-client’s does for the same observations', async () => {
    const [own, hot] = registries();
    const options = { name: 'x_seconds', help: 'x by route and status', labelNames: ['route', 'status'] as const, buckets: [0.0005, 0.001, 0.01, 0.1] };
    const a = new Histogram({ ...options, labelNames: [...options.labelNames], registers: [own] });
    const b = new HotHistogram({ ...options, registers: [hot] });
    const slot = b.slot({ route: '/r', status: '200' });
    const values = [0.0001, 0.0005, 0.0007, 0.001, 0.003, 0.05, 0.2, 7];
    for (const v of values) {
      a.observe({ route: '/r', status: '200' }, v);
      slot.observe(v);
      a.observe({ route: '/q', status: 404 }, v / 2);
      b.observe({ route: '/q', status: 404 }, v / 2);
    }
    expect(await hot.metrics()).toBe(await own.metrics());
    // As objects too, label values as strings (prom-client keeps a number given as one) and no exemplars.
    const plain = (json: unknown) => JSON.parse(JSON.stringify(json, (k, v: unknown) => (k === 'exemplar' ? undefined : typeof v === 'number' && k !== 'value' && k !== 'le' ? String(v) : v))) as unknown;
    expect(plain(await hot.getMetricsAsJSON())).toEqual(plain(await own.getMetricsAsJSON()));
    a.reset();
    b.reset();
    expect(await hot.metrics()).toBe(await own.metrics());
  });

  it('a counter scrapes exactly as prom-client’s does, increments held until the scrape', async () => {
    const [own, hot] = registries();
    const a = new Counter({ name: 'y_total', help: 'y', labelNames: ['cache', 'status'], registers: [own] });
    const b = new HotCounter({ name: 'y_total', help: 'y', labelNames: ['cache', 'status'], registers: [hot] });
    const plainA = new Counter({ name: 'z_total', help: 'z', registers: [own] });
    const plainB = new HotCounter({ name: 'z_total', help: 'z', registers: [hot] });
    const hit = b.slot({ cache: 'HIT', status: '200' });
    for (let i = 0; i < 5; i++) {
      a.inc({ cache: 'HIT', status: '200' });
      hit.inc();
      plainA.inc();
      plainB.inc();
    }
    a.inc({ cache: 'MISS', status: '404' }, 3);
    b.inc({ cache: 'MISS', status: '404' }, 3);
    plainA.inc(2);
    plainB.inc(2);
    expect(await hot.metrics()).toBe(await own.metrics());
    // Increments after a scrape are added to what it showed.
    a.inc({ cache: 'HIT', status: '200' });
    hit.inc();
    expect(await hot.metrics()).toBe(await own.metrics());
  });
});
