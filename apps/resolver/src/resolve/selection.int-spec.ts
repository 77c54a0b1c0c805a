import type { EndpointConfig, HealthCheck, TrafficPolicy } from '@tm/contracts';
import { HealthStore } from '@tm/route-cache';
import { TestRedisServer } from '@tm/testing';
import { ResolverUnderTest } from '../resolver.test-support';

const CHECK: HealthCheck = { type: 'http', path: '/healthz', intervalSeconds: 2, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2, expectedStatus: '200-299' };
const ep = (id: string, extra: Partial<EndpointConfig> = {}): EndpointConfig => ({ id, url: `https://${id}.shop.example/`, priority: 1, weight: 1, state: 'enabled', ...extra });
const policy = (endpoints: EndpointConfig[], healthCheck: HealthCheck | null = CHECK): TrafficPolicy => ({ endpoints, healthCheck });
const idOf = (route: string) => {
  const [tenant, service, environment] = route.split('/') as [string, string, string];
  return { tenant, service, environment };
};

/**
 * Selection in the resolver with real Redis health (verdicts written as the probers write them):
 * every mode picks by the health of the moment, a cached answer never pins a dead endpoint.
 */
describe('endpoint selection (resolver, real PostgreSQL and Redis)', () => {
  let r: ResolverUnderTest;
  let health: HealthStore;
  beforeAll(async () => {
    // Health read from Redis on every answer: memory's votes (dropped on each change the probers
    // publish, kept CACHE_LOCAL_HEALTH_MS at most) are local-cache.int-spec's.
    r = await ResolverUnderTest.start({ env: { CACHE_LOCAL_HEALTH_MS: '0' } });
    health = new HealthStore(r.redis, r.prefix);
  });
  afterAll(() => r.stop());

  /** Both probers' verdicts on an endpoint (a strict majority of two). */
  async function mark(route: string, endpoint: string, healthRevision: number, verdict: 'healthy' | 'unhealthy'): Promise<void> {
    for (const prober of ['p1', 'p2']) {
      await health.recordVerdict(idOf(route), { id: endpoint, healthRevision }, { prober, health: verdict, error: verdict === 'unhealthy' ? 'connect ECONNREFUSED' : null, ttlMs: 30_000 });
    }
  }

  it('fails over to the next priority on the next answer, from the cache (HIT), and back again', async () => {
    const { data } = await r.writePolicy('shop/web/prod', policy([ep('primary'), ep('backup', { priority: 2 })]));
    await r.apply([{ data, time: Date.now() }]);
    const first = await r.resolve('shop/web/prod');
    expect(first.headers['x-cache']).toBe('HIT');
    expect(first.body).toMatchObject({ url: 'https://primary.shop.example/', failOpen: false, endpoints: [{ id: 'primary', health: 'unknown' }, { id: 'backup' }] });
    // Probed: fresh no longer than the probe interval.
    expect(first.headers['cache-control']).toBe('max-age=2');

    await mark('shop/web/prod', 'primary', data.revision, 'unhealthy');
    const failedOver = await r.resolve('shop/web/prod');
    expect(failedOver.headers['x-cache']).toBe('HIT');
    expect(failedOver.body).toMatchObject({ url: 'https://backup.shop.example/', failOpen: false, endpoints: [{ id: 'backup' }, { id: 'primary', health: 'unhealthy' }] });

    const strong = await r.resolve('shop/web/prod', { query: 'consistency=strong' });
    expect(strong.headers['x-cache']).toBe('BYPASS');
    expect(strong.body).toMatchObject({ url: 'https://backup.shop.example/' });

    await mark('shop/web/prod', 'primary', data.revision, 'healthy');
    expect((await r.resolve('shop/web/prod')).body).toMatchObject({ url: 'https://primary.shop.example/', endpoints: [{ id: 'primary', health: 'healthy' }, { id: 'backup', health: 'unknown' }] });
  });

  it('a health verdict of an earlier health revision does not count (a re-pointed endpoint starts unknown)', async () => {
    const { data } = await r.writePolicy('shop/api/prod', policy([ep('primary'), ep('backup', { priority: 2 })]));
    await mark('shop/api/prod', 'primary', data.revision - 1, 'unhealthy');
    const res = await r.resolve('shop/api/prod');
    expect(res.body).toMatchObject({ url: 'https://primary.shop.example/', endpoints: [{ id: 'primary', health: 'unknown' }, { id: 'backup' }] });
  });

  it('fails open when every endpoint is unhealthy, and counts it', async () => {
    const { data } = await r.writePolicy('shop/pay/prod', policy([ep('a'), ep('b', { priority: 2 })]));
    await mark('shop/pay/prod', 'a', data.revision, 'unhealthy');
    await mark('shop/pay/prod', 'b', data.revision, 'unhealthy');
    const res = await r.resolve('shop/pay/prod');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ url: 'https://a.shop.example/', failOpen: true });
    const metrics = await r.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/tm_resolver_selections_total\{outcome="fail_open"[^}]*\} [1-9]/);
  });

  it('weight 0 standbys serve only when the weighted endpoints are down; draining only when nothing enabled is up', async () => {
    const { data } = await r.writePolicy('shop/cart/prod', policy([ep('main'), ep('standby', { weight: 0 }), ep('old', { state: 'draining' })]));
    expect((await r.resolve('shop/cart/prod')).body).toMatchObject({ url: 'https://main.shop.example/' });
    await mark('shop/cart/prod', 'main', data.revision, 'unhealthy');
    expect((await r.resolve('shop/cart/prod')).body).toMatchObject({ url: 'https://standby.shop.example/', failOpen: false });
    await mark('shop/cart/prod', 'standby', data.revision, 'unhealthy');
    expect((await r.resolve('shop/cart/prod')).body).toMatchObject({ url: 'https://old.shop.example/', failOpen: false });
  });

  it('no endpoint enabled or draining: 404 no_enabled_endpoint, with the consistency headers', async () => {
    await r.writePolicy('shop/off/prod', policy([ep('a', { state: 'disabled' })], null));
    const res = await r.resolve('shop/off/prod');
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ type: 'urn:traffic-manager:problem:no_enabled_endpoint', status: 404 });
    expect(res.headers['x-consistency-revision']).toEqual(expect.any(String));
  });

  it('weights 3:1 split 2,000 answers within 5%; an affinity string always gets the same endpoint', async () => {
    await r.writePolicy('shop/canary/prod', policy([ep('stable', { weight: 3 }), ep('canary', { weight: 1 })], null));
    const picks: Record<string, number> = {};
    for (let i = 0; i < 2000; i++) {
      const url = String((await r.resolve('shop/canary/prod')).body['url']);
      picks[url] = (picks[url] ?? 0) + 1;
    }
    expect(Math.abs((picks['https://stable.shop.example/'] ?? 0) / 2000 - 0.75)).toBeLessThan(0.05);
    for (const user of ['u1', 'u2', 'u3', 'u4']) {
      const urls = new Set<string>();
      for (let i = 0; i < 20; i++) urls.add(String((await r.resolve('shop/canary/prod', { query: `affinity=${user}` })).body['url']));
      expect(urls.size).toBe(1);
    }
    const bad = await r.resolve('shop/canary/prod', { query: `affinity=${'x'.repeat(257)}` });
    expect(bad.status).toBe(400);
  });
});

describe('endpoint selection with Redis down', () => {
  let server: TestRedisServer;
  let r: ResolverUnderTest;
  beforeAll(async () => {
    server = await TestRedisServer.start();
    r = await ResolverUnderTest.start({ redisUrl: server.url, ownRedis: true });
  });
  afterAll(async () => {
    // Back up first: the clients close cleanly.
    await server.restart();
    await r.stop();
    await server.stop();
  });

  it('every endpoint is unknown and answers go on from the database', async () => {
    const { data } = await r.writePolicy('shop/web/prod', policy([ep('primary'), ep('backup', { priority: 2 })]));
    const store = new HealthStore(r.redis, r.prefix);
    for (const prober of ['p1', 'p2']) {
      await store.recordVerdict(idOf('shop/web/prod'), { id: 'primary', healthRevision: data.revision }, { prober, health: 'unhealthy', error: null, ttlMs: 30_000 });
    }
    expect((await r.resolve('shop/web/prod')).body).toMatchObject({ url: 'https://backup.shop.example/' });
    await server.kill();
    await r.redisGone();
    const res = await r.resolve('shop/web/prod');
    expect(res.status).toBe(200);
    expect(res.headers['x-cache']).toBe('BYPASS');
    expect(res.body).toMatchObject({ url: 'https://primary.shop.example/', failOpen: false, endpoints: [{ id: 'primary', health: 'unknown' }, { id: 'backup', health: 'unknown' }] });
  });
});
