import { FaultProxy, testInfra } from '@tm/testing';
import { ResolverUnderTest } from '../resolver.test-support';

/** G8: Redis down, answers from the database (BYPASS); PostgreSQL down, cached answers as STALE, others 503. */
describe('resolver degradation', () => {
  describe('Redis cut', () => {
    let r: ResolverUnderTest;
    let proxy: FaultProxy;
    beforeAll(async () => {
      const fronted = await FaultProxy.forUrl(testInfra().redisUrl);
      proxy = fronted.proxy;
      r = await ResolverUnderTest.start({ redisUrl: fronted.url, env: { REDIS_BREAKER_THRESHOLD: '2', REDIS_BREAKER_OPEN_MS: '200' } });
      await r.write('acme/web/prod', 'https://web.acme.internal/');
      await r.resolve('acme/web/prod');
      expect((await r.resolve('acme/web/prod')).headers['x-cache']).toBe('HIT');
    });
    afterAll(async () => {
      await r.stop();
      await proxy.stop();
    });

    it('answers go on from the database as BYPASS, 200, while Redis refuses', async () => {
      proxy.refuse();
      for (let i = 0; i < 10; i++) {
        const res = await r.resolve('acme/web/prod');
        expect(res.status).toBe(200);
        expect(res.headers['x-cache']).toBe('BYPASS');
        expect(res.body['url']).toBe('https://web.acme.internal/');
      }
    });

    it('Redis back: HIT again, by itself', async () => {
      proxy.restore();
      const deadline = Date.now() + 15_000;
      let cache: unknown;
      while (Date.now() < deadline) {
        cache = (await r.resolve('acme/web/prod')).headers['x-cache'];
        if (cache === 'HIT') break;
        await new Promise((res) => setTimeout(res, 100));
      }
      expect(cache).toBe('HIT');
    });
  });

  describe('PostgreSQL cut', () => {
    let r: ResolverUnderTest;
    let proxy: FaultProxy;
    beforeAll(async () => {
      r = await ResolverUnderTest.start({
        databaseUrl: async (url) => {
          const fronted = await FaultProxy.forUrl(url);
          proxy = fronted.proxy;
          return fronted.url;
        },
      });
      await r.write('acme/web/prod', 'https://web.acme.internal/');
      expect((await r.resolve('acme/web/prod')).headers['x-cache']).toBe('MISS');
    });
    afterAll(async () => {
      await r.stop();
      await proxy.stop();
    });

    it('a fresh cached route is still a HIT', async () => {
      proxy.refuse();
      expect((await r.resolve('acme/web/prod')).headers['x-cache']).toBe('HIT');
    });

    it('a cached route that is no longer fresh is served as STALE with its Age; an uncached one is 503', async () => {
      proxy.refuse();
      // A newer write's event (invalidate mode) makes the entry not fresh; the database cannot be asked.
      await r.apply([{ data: { tenant: 'acme', service: 'web', environment: 'prod', url: 'https://unknown/', revision: 1_000 }, time: Date.now() }], 'invalidate');
      const stale = await r.resolve('acme/web/prod');
      expect(stale.status).toBe(200);
      expect(stale.headers).toMatchObject({ 'x-cache': 'STALE', 'cache-control': 'max-age=0' });
      expect(stale.headers['age']).toMatch(/^\d+$/);
      expect(stale.body['url']).toBe('https://web.acme.internal/');
      const unknown = await r.resolve('acme/web/never-cached');
      expect(unknown.status).toBe(503);
      expect(unknown.headers['retry-after']).toMatch(/^\d+$/);
      const strong = await r.resolve('acme/web/prod', { query: 'consistency=strong' });
      expect(strong.status).toBe(503);
    });

    it('an entry known current longer ago than the stale grace is not served, even if its key is still there (503)', async () => {
      proxy.refuse();
      const twoDaysAgo = Date.now() - 2 * 86_400_000;
      const id = { tenant: 'acme', service: 'old', environment: 'prod' };
      await r.worker.fill({ id, route: { url: 'https://ancient/', revision: 1 }, asOf: 1, knownAt: twoDaysAgo, lease: await r.worker.prepare(id) });
      const res = await r.resolve('acme/old/prod');
      expect(res.status).toBe(503);
    });

    it('PostgreSQL back: normal service by itself', async () => {
      proxy.restore();
      const deadline = Date.now() + 15_000;
      let status = 0;
      while (Date.now() < deadline) {
        status = (await r.resolve('acme/web/never-cached')).status;
        if (status === 404) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      expect(status).toBe(404);
    });
  });
});
