import { FaultProxy, testInfra } from '@tm/testing';
import { ADMIN_TOKEN, CommandApiUnderTest, type Answer } from './command-api.test-support';

/**
 * RATE_LIMIT_PER_KEY across two replicas of the command API that share PostgreSQL and Redis. The
 * replicas' clock is the test's, and they reconcile only when the test says (what their timer does
 * every 100 ms), so each case decides exactly what each replica knows when a request arrives.
 */
describe('requests per key per second across replicas (RATE_LIMIT_PER_KEY 10)', () => {
  const LIMIT = 10;
  let now = Math.floor(Date.now() / 1000) * 1000;
  const clock = (): number => now;
  let a: CommandApiUnderTest;
  let b: CommandApiUnderTest;
  let hostile: string;
  let honest: string;

  beforeAll(async () => {
    const options = { env: { RATE_LIMIT_PER_KEY: String(LIMIT) }, rateLimitClock: clock };
    a = await CommandApiUnderTest.start(options);
    b = await CommandApiUnderTest.replicaOf(a, options);
    expect((await a.request('POST', '/v1/tenants', { body: { slug: 'noisy' } })).status).toBe(201);
    hostile = await a.createKey(['routes:read'], 'noisy');
    honest = await a.createKey(['routes:read'], 'noisy');
  });
  afterAll(async () => {
    await b.stop();
    await a.stop();
  });
  // Each case in a second of its own.
  beforeEach(() => {
    now = (Math.floor(now / 1000) + 1) * 1000 + 250;
  });

  const list = (api: CommandApiUnderTest, token: string): Promise<Answer> => api.request('GET', '/v1/routes?tenant=noisy', { token });

  /** `n` requests of `token` on `api`, one after the other; their statuses. */
  async function hits(api: CommandApiUnderTest, token: string, n: number): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) statuses.push((await list(api, token)).status);
    return statuses;
  }

  const ok = (n: number): number[] => Array<number>(n).fill(200);

  /** A counter's value at /metrics, by name and labels (`limit="rate"`...); 0 before its first count. */
  async function metric(api: CommandApiUnderTest, name: string, ...labels: string[]): Promise<number> {
    const text = String((await api.request('GET', '/metrics', { token: null })).body);
    const line = text.split('\n').find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && labels.every((label) => l.includes(label)));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  }

  it("a key is held to its limit across the replicas once they have reconciled: each counts the other's requests", async () => {
    expect(await hits(a, hostile, 6)).toEqual(ok(6));
    await a.syncRateLimits();
    // b learns of a key at its first request of the second, and of the others' count at its next reconciliation.
    expect(await hits(b, hostile, 1)).toEqual(ok(1));
    await b.syncRateLimits();
    expect(await hits(b, hostile, 4)).toEqual([200, 200, 200, 429]);
    await b.syncRateLimits();
    await a.syncRateLimits();
    expect(await hits(a, hostile, 2)).toEqual([429, 429]);
    // The next second starts afresh.
    now += 1000;
    expect(await hits(a, hostile, 1)).toEqual(ok(1));
  });

  it('the overshoot is what the replicas admit between two reconciliations, no more', async () => {
    // Neither replica knows of the other's requests yet: each admits the limit.
    expect(await hits(a, hostile, LIMIT)).toEqual(ok(LIMIT));
    expect(await hits(b, hostile, LIMIT)).toEqual(ok(LIMIT));
    expect(await hits(a, hostile, 1)).toEqual([429]);
    await Promise.all([a.syncRateLimits(), b.syncRateLimits()]);
    expect(await hits(a, hostile, 1)).toEqual([429]);
    expect(await hits(b, hostile, 1)).toEqual([429]);
  });

  it('over the limit: 429 rate_limited with Retry-After, RateLimit and RateLimit-Policy', async () => {
    await hits(a, hostile, LIMIT);
    const before = await metric(a, 'tm_quota_refusals_total', 'limit="rate"', 'tenant="noisy"');
    const res = await a.request('PUT', '/v1/routes/noisy/web/prod', { token: hostile, body: { url: 'https://web.noisy.internal' } });
    expect(res.status).toBe(429);
    expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 429, title: 'Too Many Requests', type: 'urn:traffic-manager:problem:rate_limited' });
    expect(res.headers['retry-after']).toBe('1');
    expect(res.headers['ratelimit']).toBe('"default";r=0;t=1');
    expect(res.headers['ratelimit-policy']).toBe(`"default";q=${LIMIT};w=1`);
    expect(res.headers['x-request-id']).toBeDefined();
    expect(await metric(a, 'tm_quota_refusals_total', 'limit="rate"', 'tenant="noisy"')).toBe(before + 1);
  });

  it('a hostile key beside an honest one: only the hostile one is refused; the admin token is never limited', async () => {
    expect(await hits(a, hostile, 30)).toEqual([...ok(LIMIT), ...Array<number>(20).fill(429)]);
    expect(await hits(b, hostile, 1)).toEqual(ok(1));
    expect(await hits(a, honest, 4)).toEqual(ok(4));
    expect(await hits(b, honest, 4)).toEqual(ok(4));
    expect(await hits(a, ADMIN_TOKEN, 3 * LIMIT)).toEqual(ok(3 * LIMIT));
    await Promise.all([a.syncRateLimits(), b.syncRateLimits()]);
    expect(await hits(b, hostile, 1)).toEqual([429]);
    expect(await hits(a, honest, 2)).toEqual(ok(2));
    expect(await hits(b, ADMIN_TOKEN, 3 * LIMIT)).toEqual(ok(3 * LIMIT));
  });

  it('an unauthenticated request is a 401, whatever the limit', async () => {
    const res = await a.request('GET', '/v1/routes?tenant=noisy', { token: 'tm_nope_0123456789' });
    expect(res.status).toBe(401);
  });

  describe('with Redis unreachable', () => {
    let proxy: FaultProxy;
    let c: CommandApiUnderTest;
    let d: CommandApiUnderTest;
    beforeAll(async () => {
      const fronted = await FaultProxy.forUrl(testInfra().redisUrl);
      proxy = fronted.proxy;
      const options = { env: { RATE_LIMIT_PER_KEY: String(LIMIT) }, rateLimitClock: clock, redisUrl: fronted.url };
      c = await CommandApiUnderTest.start(options);
      d = await CommandApiUnderTest.replicaOf(c, options);
      expect((await c.request('POST', '/v1/tenants', { body: { slug: 'noisy' } })).status).toBe(201);
      hostile = await c.createKey(['routes:read'], 'noisy');
    });
    afterAll(async () => {
      // Redis back first: the replicas shut down as they would with Redis up.
      proxy.restore();
      await d.stop();
      await c.stop();
      await proxy.stop();
    });

    it('each replica limits on its own count, and the writes go on', async () => {
      proxy.refuse();
      const failures = await metric(c, 'tm_rate_limit_sync_failures_total');
      expect(await hits(c, hostile, LIMIT + 1)).toEqual([...ok(LIMIT), 429]);
      await c.syncRateLimits();
      expect(await metric(c, 'tm_rate_limit_sync_failures_total')).toBe(failures + 1);
      expect(await hits(d, hostile, LIMIT + 1)).toEqual([...ok(LIMIT), 429]);
      await Promise.all([c.syncRateLimits(), d.syncRateLimits()]);
      expect(await hits(c, hostile, 1)).toEqual([429]);
      expect(await hits(d, hostile, 1)).toEqual([429]);
      expect((await c.request('PUT', '/v1/routes/noisy/web/prod', { body: { url: 'https://web.noisy.internal' } })).status).toBe(201);
      expect((await c.request('GET', '/health/ready', { token: null })).status).toBe(200);
      // The next second starts afresh on each.
      now += 1000;
      expect(await hits(c, hostile, 1)).toEqual(ok(1));
    });
  });
});
