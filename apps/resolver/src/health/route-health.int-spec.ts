import { routeKey, type HealthCheck, type RouteId } from '@tm/contracts';
import { HealthStore } from '@tm/route-cache';
import { ADMIN_TOKEN, ResolverUnderTest } from '../resolver.test-support';

/** A stored timeout above the probers' cap (PROBE_MAX_TIMEOUT_SECONDS, 10 by default): written before the cap, it keeps working. */
const SLOW_CHECK: HealthCheck = { type: 'http', path: '/', intervalSeconds: 60, timeoutSeconds: 30, healthyThreshold: 1, unhealthyThreshold: 1 };
const endpoints = (...ids: string[]) => ids.map((id) => ({ id, url: `http://${id}.cap.example/`, priority: 1, weight: 1, state: 'enabled' as const }));
const WEB: RouteId = { tenant: 'cap', service: 'web', environment: 'prod' };
const API: RouteId = { tenant: 'cap', service: 'api', environment: 'prod' };
const PLAIN: RouteId = { tenant: 'cap', service: 'plain', environment: 'prod' };

/** GET /v1/routes/{t}/{s}/{e}/health with verdicts written as the probers write them (real PostgreSQL and Redis). */
describe('route health (resolver)', () => {
  let r: ResolverUnderTest;
  let store: HealthStore;
  beforeAll(async () => {
    r = await ResolverUnderTest.start();
    store = new HealthStore(r.redis, r.prefix);
  });
  afterAll(() => r.stop());

  async function health(route: RouteId): Promise<Record<string, unknown>> {
    const res = await r.app.inject({ method: 'GET', url: `/v1/routes/${routeKey(route)}/health`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.statusCode).toBe(200);
    return JSON.parse(res.body) as Record<string, unknown>;
  }

  it('says which timeout the probers use: a stored timeout above their cap is probed with the cap', async () => {
    const { data } = await r.writePolicy(routeKey(WEB), { endpoints: endpoints('a', 'b'), healthCheck: SLOW_CHECK });
    expect(await health(WEB)).toMatchObject({ healthCheck: { timeoutSeconds: 30 }, probeTimeoutSeconds: null });

    for (const prober of ['p1', 'p2']) {
      await store.recordVerdict(WEB, { id: 'a', healthRevision: data.revision }, { prober, health: 'unhealthy', error: 'timeout after 10 s', ttlMs: 60_000, timeoutSeconds: 10 });
    }
    const answer = await health(WEB);
    expect(answer).toMatchObject({ probed: true, healthCheck: { timeoutSeconds: 30 }, probeTimeoutSeconds: 10 });
    expect((answer['endpoints'] as { id: string; lastError: { message: string } | null }[]).find((e) => e.id === 'a')?.lastError?.message).toBe('timeout after 10 s');
  });

  it('takes the longest when probers differ (one configured with a higher cap), and only fresh verdicts of the current health revision', async () => {
    const { data } = await r.writePolicy(routeKey(API), { endpoints: endpoints('a'), healthCheck: SLOW_CHECK });
    // A verdict of an earlier health revision (another URL, another check) says nothing of this one.
    await store.recordVerdict(API, { id: 'a', healthRevision: data.revision - 1 }, { prober: 'p1', health: 'healthy', error: null, ttlMs: 60_000, timeoutSeconds: 30 });
    expect(await health(API)).toMatchObject({ probeTimeoutSeconds: null });
    await store.recordVerdict(API, { id: 'a', healthRevision: data.revision }, { prober: 'p1', health: 'healthy', error: null, ttlMs: 60_000, timeoutSeconds: 10 });
    await store.recordVerdict(API, { id: 'a', healthRevision: data.revision }, { prober: 'p2', health: 'healthy', error: null, ttlMs: 60_000, timeoutSeconds: 20 });
    // A prober of the previous version says nothing of its timeout.
    await store.recordVerdict(API, { id: 'a', healthRevision: data.revision }, { prober: 'p3', health: 'healthy', error: null, ttlMs: 60_000 });
    expect(await health(API)).toMatchObject({ probeTimeoutSeconds: 20, endpoints: [{ id: 'a', verdicts: { fresh: 3 } }] });
  });

  it('a route without a health check: not probed, no timeout', async () => {
    await r.writePolicy(routeKey(PLAIN), { endpoints: endpoints('a'), healthCheck: null });
    expect(await health(PLAIN)).toMatchObject({ probed: false, healthCheck: null, probeTimeoutSeconds: null });
  });
});
