import { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { validateConfig } from '@tm/platform';
import { ResolverConfig } from '../config';
import { DatabaseClock } from './database-clock';
import { LocalRouteCache } from './local-cache';
import { ReadTier } from './read-tier';
import { ResolverMetrics } from './resolver.metrics';

/** A primary whose revision reads the test answers one by one. */
function fakePrimary() {
  const pending: ((revision: number) => void)[] = [];
  const dataSource = {
    query: () => new Promise<{ revision: string; t: number }[]>((resolve) => pending.push((revision) => resolve([{ revision: String(revision), t: 1_000 + revision }]))),
  } as unknown as DataSource;
  return { dataSource, pending };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('ReadTier: the read index (the primary revision read after a strong read or a miss arrived)', () => {
  const config = validateConfig(ResolverConfig, { DATABASE_URL: 'postgres://u@h/db', REDIS_URL: 'redis://h:6379' });

  it('shares one statement among the reads that arrive while none is sent, and never gives a read one sent before it arrived', async () => {
    const { dataSource, pending } = fakePrimary();
    let now = 0;
    const local = () => now;
    const tier = new ReadTier(config, dataSource, new ResolverMetrics(new Registry(), new LocalRouteCache({ maxRoutes: 0, maxProofAgeMs: 750, healthMs: 0 }, local)), new DatabaseClock(local), local);

    const first = tier.primaryRevisionAfterNow();
    await flush();
    expect(pending).toHaveLength(1);
    // Arrive while the first is in flight: it was sent before them, so they wait for the next, together.
    now = 10;
    const second = tier.primaryRevisionAfterNow();
    const third = tier.primaryRevisionAfterNow();
    expect(third).toBe(second);
    await flush();
    expect(pending).toHaveLength(1);

    pending.shift()?.(5);
    expect((await first).revision).toBe(5);
    await flush();
    expect(pending).toHaveLength(1);
    pending.shift()?.(7);
    const [b, c] = await Promise.all([second, third]);
    expect(b).toEqual({ revision: 7, knownCurrentAt: 1_007, establishedAt: 10 });
    expect(c).toBe(b);
  });
});
