import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { KeyRateLimits } from '@tm/limits';
import { FaultProxy, testInfra } from '@tm/testing';
import { ADMIN_TOKEN, resolveOn, ResolverUnderTest } from '../resolver.test-support';

/**
 * RATE_LIMIT_PER_KEY on the resolver's hit path, across two replicas sharing PostgreSQL and Redis.
 * Their rate-limit clock is the test's and they reconcile only when the test says (what their
 * timer does every 100 ms), so each case decides what each replica knows.
 */
describe('resolver: requests per key per second across replicas (RATE_LIMIT_PER_KEY 5)', () => {
  const LIMIT = 5;
  const ROUTE = 'busy/web/prod';
  let now = Math.floor(Date.now() / 1000) * 1000;
  const clock = (): number => now;
  let a: ResolverUnderTest;
  let b: NestFastifyApplication;
  let hostile: string;
  let honest: string;

  beforeAll(async () => {
    const options = { env: { RATE_LIMIT_PER_KEY: String(LIMIT) }, rateLimitClock: clock };
    a = await ResolverUnderTest.start(options);
    b = await ResolverUnderTest.replicaOf(a, a.database.url, options);
    await a.write(ROUTE, 'https://web.busy.internal/');
    hostile = await a.createKey(['routes:read'], 'busy');
    honest = await a.createKey(['routes:read'], 'busy');
  });
  afterAll(async () => {
    await b.close();
    await a.stop();
  });
  beforeEach(() => {
    now = (Math.floor(now / 1000) + 1) * 1000 + 250;
  });

  async function hits(app: NestFastifyApplication, token: string, n: number): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) statuses.push((await resolveOn(app, ROUTE, { token })).status);
    return statuses;
  }

  const ok = (n: number): number[] => Array<number>(n).fill(200);
  const sync = (...apps: NestFastifyApplication[]): Promise<void[]> => Promise.all(apps.map((app) => app.get(KeyRateLimits).sync()));

  it("a key is held to its limit across the replicas once they have reconciled; 429 rate_limited with the RateLimit headers", async () => {
    expect(await hits(a.app, hostile, 3)).toEqual(ok(3));
    expect(await hits(b, hostile, 1)).toEqual(ok(1));
    await sync(a.app, b);
    // a knows of b's one, b of a's three: one left between them.
    expect(await hits(b, hostile, 1)).toEqual(ok(1));
    const refused = await resolveOn(b, ROUTE, { token: hostile });
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ status: 429, type: 'urn:traffic-manager:problem:rate_limited' });
    expect(String(refused.headers['content-type'])).toMatch(/^application\/problem\+json/);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.headers['ratelimit']).toBe('"default";r=0;t=1');
    expect(refused.headers['ratelimit-policy']).toBe(`"default";q=${LIMIT};w=1`);
    await sync(b, a.app);
    expect(await hits(a.app, hostile, 1)).toEqual([429]);
  });

  /** tm_quota_refusals_total{limit="rate", tenant="busy"} on `app`. */
  async function refusals(app: NestFastifyApplication): Promise<number> {
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const line = text.split('\n').find((l) => l.startsWith('tm_quota_refusals_total{') && l.includes('limit="rate"') && l.includes('tenant="busy"'));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  }

  it('a hostile key beside an honest one: only the hostile one is refused, and counted; the admin token is never limited', async () => {
    const before = await refusals(a.app);
    expect(await hits(a.app, hostile, 20)).toEqual([...ok(LIMIT), ...Array<number>(20 - LIMIT).fill(429)]);
    expect(await hits(a.app, honest, LIMIT)).toEqual(ok(LIMIT));
    expect(await hits(a.app, ADMIN_TOKEN, 4 * LIMIT)).toEqual(ok(4 * LIMIT));
    expect(await refusals(a.app)).toBe(before + 20 - LIMIT);
  });

  describe('with Redis unreachable', () => {
    let proxy: FaultProxy;
    let c: NestFastifyApplication;
    let d: NestFastifyApplication;
    beforeAll(async () => {
      const fronted = await FaultProxy.forUrl(testInfra().redisUrl);
      proxy = fronted.proxy;
      const options = { env: { RATE_LIMIT_PER_KEY: String(LIMIT) }, rateLimitClock: clock, redisUrl: fronted.url };
      c = await ResolverUnderTest.replicaOf(a, a.database.url, options);
      d = await ResolverUnderTest.replicaOf(a, a.database.url, options);
    });
    afterAll(async () => {
      // Redis back first: the replicas shut down as they would with Redis up.
      proxy.restore();
      await d.close();
      await c.close();
      await proxy.stop();
    });

    it('each replica limits on its own count, and answers go on (from the database)', async () => {
      proxy.refuse();
      expect(await hits(c, hostile, LIMIT + 1)).toEqual([...ok(LIMIT), 429]);
      expect(await hits(d, hostile, LIMIT + 1)).toEqual([...ok(LIMIT), 429]);
      await sync(c, d);
      expect(await hits(c, hostile, 1)).toEqual([429]);
      expect(await hits(d, honest, 1)).toEqual(ok(1));
      const answer = await resolveOn(c, ROUTE, { token: honest });
      expect(answer.status).toBe(200);
      expect(answer.headers['x-cache']).toBe('BYPASS');
    });
  });
});
