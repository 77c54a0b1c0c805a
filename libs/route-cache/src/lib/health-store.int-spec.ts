import { createClient } from 'redis';
import type { PolicyEndpoint, RouteEventData } from '@tm/contracts';
import { deleteKeysWithPrefix, testInfra, testKeyPrefix } from '@tm/testing';
import { currentHealth, endpointHealth, healthChannel, healthOf, HealthStore, healthSummaryKey, nextLapse, parseHealthChange, votesOf, type HealthChange } from './health-store';
import { createRedisClient, type RedisClient } from './redis.module';
import { RouteCache } from './route-cache';

const id = { tenant: 'acme', service: 'checkout', environment: 'prod' };
const blue = { id: 'blue', healthRevision: 4 };

/** Endpoint health in a real Redis: verdicts, majorities, expiry, change events, and the read with the route. */
describe('HealthStore (real Redis)', () => {
  let client: RedisClient;
  let prefix: string;
  let store: HealthStore;
  beforeAll(async () => {
    client = createRedisClient({ url: testInfra().redisUrl });
    await client.connect();
  });
  beforeEach(() => {
    prefix = testKeyPrefix();
    store = new HealthStore(client, prefix);
  });
  afterEach(() => deleteKeysWithPrefix(prefix));
  afterAll(() => client.close());

  const verdict = (prober: string, health: 'healthy' | 'unhealthy' | 'unknown', error: string | null = null, ttlMs = 30_000) => ({ prober, health, error, ttlMs });

  /** The changes published on the health channel from now on (close the subscriber after). */
  async function subscribeChanges() {
    const subscriber = createClient({ url: testInfra().redisUrl });
    await subscriber.connect();
    const changes: HealthChange[] = [];
    await subscriber.subscribe(healthChannel(prefix), (message) => {
      const change = parseHealthChange(message);
      if (change) changes.push(change);
    });
    return { changes, subscriber };
  }

  /** Waits until `count` changes were received. */
  async function untilChanges(changes: HealthChange[], count: number): Promise<void> {
    for (let i = 0; i < 100 && changes.length < count; i++) await new Promise((r) => setTimeout(r, 10));
  }

  it('healthy only when a strict majority of the fresh verdicts says so; the decision changes once, with its time', async () => {
    expect(await store.recordVerdict(id, blue, verdict('p1', 'healthy'))).toEqual({ changed: true, health: 'healthy' });
    expect(await store.recordVerdict(id, blue, verdict('p2', 'unhealthy', 'connect ECONNREFUSED'))).toEqual({ changed: true, health: 'unknown' });
    expect(await store.recordVerdict(id, blue, verdict('p2', 'healthy'))).toEqual({ changed: true, health: 'healthy' });
    expect(await store.recordVerdict(id, blue, verdict('p1', 'healthy'))).toEqual({ changed: false, health: 'healthy' });
    const health = endpointHealth(await store.read(id), blue);
    expect(health).toMatchObject({ health: 'healthy', verdicts: { fresh: 2, healthy: 2, unhealthy: 0 } });
    expect(health.since).toEqual(expect.any(String));
    expect(health.lastError).toMatchObject({ message: 'connect ECONNREFUSED', prober: 'p2' });
    // Another health revision of the same endpoint id has none of these verdicts.
    expect(endpointHealth(await store.read(id), { id: 'blue', healthRevision: 9 })).toMatchObject({ health: 'unknown', since: null });
  });

  it('keeps the probe timeout each prober used (absent from a prober that does not say)', async () => {
    await store.recordVerdict(id, blue, { ...verdict('p1', 'healthy'), timeoutSeconds: 10 });
    await store.recordVerdict(id, blue, verdict('p2', 'healthy'));
    const verdicts = (await store.read(id)).get('blue|4')?.verdicts ?? [];
    expect(verdicts.map((v) => [v.prober, v.timeoutSeconds]).sort()).toEqual([
      ['p1', 10],
      ['p2', null],
    ]);
    // The summary the hit path reads is unchanged by it.
    expect(await client.get(healthSummaryKey(prefix, id))).toBe('blue|4=healthy');
  });

  it('verdicts expire: a prober that stops writing stops counting, and the next write decides without it', async () => {
    await store.recordVerdict(id, blue, verdict('dead', 'unhealthy', 'timeout', 150));
    await store.recordVerdict(id, blue, verdict('alive', 'healthy'));
    expect(endpointHealth(await store.read(id), blue).health).toBe('unknown');
    // Expiry is judged on the Redis server's clock: wait until the short verdict is past it.
    for (let i = 0; i < 100 && endpointHealth(await store.read(id), blue).verdicts.fresh > 1; i++) await new Promise((r) => setTimeout(r, 20));
    expect(endpointHealth(await store.read(id), blue)).toMatchObject({ health: 'healthy', verdicts: { fresh: 1 } });
    expect(await store.recordVerdict(id, blue, verdict('alive', 'healthy'))).toEqual({ changed: true, health: 'healthy' });
    const raw = await client.hGetAll(store.key(id));
    expect(Object.keys(raw).sort()).toEqual(['d|blue|4', 'v|blue|4|alive']);
  });

  it('publishes each decided change on the health channel', async () => {
    const { changes, subscriber } = await subscribeChanges();
    try {
      await store.recordVerdict(id, blue, verdict('p1', 'unhealthy'));
      await store.recordVerdict(id, blue, verdict('p1', 'unhealthy'));
      await store.recordVerdict(id, blue, verdict('p1', 'healthy'));
      await untilChanges(changes, 2);
      expect(changes.map((c) => [c.route, c.endpoint, c.healthRevision, c.health])).toEqual([
        ['acme/checkout/prod', 'blue', 4, 'unhealthy'],
        ['acme/checkout/prod', 'blue', 4, 'healthy'],
      ]);
    } finally {
      await subscriber.close();
    }
  });

  /** Waits (on the Redis server's clock) until the endpoint has no fresh verdict left. */
  async function untilExpired(endpoint: { id: string; healthRevision: number }): Promise<void> {
    for (let i = 0; i < 200 && endpointHealth(await store.read(id), endpoint).verdicts.fresh > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(endpointHealth(await store.read(id), endpoint).verdicts.fresh).toBe(0);
  }

  it('every prober stopped, then one back: its verdict is a change again, published with a since after the lapse', async () => {
    const { changes, subscriber } = await subscribeChanges();
    try {
      await store.recordVerdict(id, blue, verdict('p1', 'healthy', null, 200));
      await store.recordVerdict(id, blue, verdict('p2', 'healthy', null, 200));
      const healthy = await store.readAt(id);
      expect(currentHealth(healthy, blue).health).toBe('healthy');
      await untilExpired(blue);
      const lapsed = await store.readAt(id);
      // Unknown now, since a moment after the verdicts expired (the read's: the record no longer proves its own).
      expect(currentHealth(lapsed, blue)).toEqual({ health: 'unknown', since: lapsed.now });
      expect(lapsed.now).toBeGreaterThanOrEqual(nextLapse(healthy.records) ?? Infinity);
      // The decided record still says healthy: a prober back with the same verdict changes what readers see.
      expect(await store.recordVerdict(id, blue, verdict('p1', 'healthy'))).toEqual({ changed: true, health: 'healthy' });
      await untilChanges(changes, 2);
      expect(changes.map((c) => c.health)).toEqual(['healthy', 'healthy']);
      expect(changes[1]?.since).toBeGreaterThanOrEqual(lapsed.now);
      expect(currentHealth(await store.readAt(id), blue)).toEqual({ health: 'healthy', since: changes[1]?.since });
    } finally {
      await subscriber.close();
    }
  });

  it("a read's since is the decided record's while it holds, and a change's until is the route's first expiry that may change a health", async () => {
    const { changes, subscriber } = await subscribeChanges();
    try {
      const green = { id: 'green', healthRevision: 4 };
      await store.recordVerdict(id, blue, verdict('p1', 'unhealthy', 'refused', 60_000));
      await store.recordVerdict(id, green, verdict('p1', 'unknown', 'denied', 1_000));
      await store.recordVerdict(id, green, verdict('p2', 'healthy', null, 30_000));
      await untilChanges(changes, 2);
      const [blueChange, greenChange] = changes;
      // Blue's verdict expires in 60 s, green's healthy one in 30 s (its unknown one takes no side).
      expect(blueChange?.until).toBe((blueChange?.since ?? 0) + 60_000);
      expect(greenChange?.until).toBe((greenChange?.since ?? 0) + 30_000);
      const read = await store.readAt(id);
      expect(nextLapse(read.records)).toBe(greenChange?.until);
      expect(currentHealth(read, blue)).toEqual({ health: 'unhealthy', since: blueChange?.since });
      expect(currentHealth(read, green)).toEqual({ health: 'healthy', since: greenChange?.since });
      // Nothing decided: unknown, since the read.
      expect(currentHealth(read, { id: 'red', healthRevision: 4 })).toEqual({ health: 'unknown', since: read.now });
    } finally {
      await subscriber.close();
    }
  });

  it("the cache read's majority, decided in Redis, is the one of the verdicts (majorityHealth): ties, unknowns, other revisions, expired", async () => {
    const cache = new RouteCache(client, prefix, 60_000);
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const endpoints: PolicyEndpoint[] = ids.map((e) => ({ id: e, url: `https://${e}.example`, priority: 1, weight: 1, state: 'enabled', healthRevision: 4 }));
    const data: RouteEventData = { ...id, url: 'https://a.example', revision: 4, endpoints, healthCheck: { type: 'tcp', intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 1, unhealthyThreshold: 1 } };
    await cache.applyEvents([{ data, time: Date.now() }], 'refresh');
    const at = (e: string) => ({ id: e, healthRevision: 4 });
    // a: 2 healthy of 3; b: a tie (1:1); c: 1 unhealthy, 2 unknown (unknowns take no side); d: only unknown;
    // e: 1 healthy at revision 4, 1 unhealthy at another revision; f: a healthy verdict that expired and a fresh unhealthy one.
    for (const [e, prober, health] of [
      ['a', 'p1', 'healthy'],
      ['a', 'p2', 'healthy'],
      ['a', 'p3', 'unhealthy'],
      ['b', 'p1', 'healthy'],
      ['b', 'p2', 'unhealthy'],
      ['c', 'p1', 'unhealthy'],
      ['c', 'p2', 'unknown'],
      ['c', 'p3', 'unknown'],
      ['d', 'p1', 'unknown'],
      ['e', 'p1', 'healthy'],
    ] as const) {
      await store.recordVerdict(id, at(e), verdict(prober, health, health === 'unhealthy' ? 'refused "quoted" | piped' : null));
    }
    await store.recordVerdict(id, { id: 'e', healthRevision: 3 }, verdict('p2', 'unhealthy'));
    await store.recordVerdict(id, at('f'), verdict('p1', 'healthy', null, 50));
    await store.recordVerdict(id, at('f'), verdict('p2', 'unhealthy'));
    // The summary the last write left, expiring with f's short verdict: f is a tie (1:1) until then.
    const summaryKey = healthSummaryKey(prefix, id);
    expect(String(await client.get(summaryKey)).split(' ').sort()).toEqual(['a|4=healthy', 'c|4=unhealthy', 'e|3=unhealthy', 'e|4=healthy']);
    expect(await client.pTTL(summaryKey)).toBeLessThanOrEqual(50);
    const before = (await cache.readWithHealth(id)).health ?? new Map();
    expect(ids.map((e) => healthOf(before, at(e)))).toEqual(['healthy', 'unknown', 'unhealthy', 'unknown', 'healthy', 'unknown']);
    // Past it, the read counts the verdicts themselves (no write came to renew the summary).
    for (let i = 0; i < 100 && (await client.exists(summaryKey)) === 1; i++) await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 100 && endpointHealth(await store.read(id), at('f')).verdicts.fresh > 1; i++) await new Promise((r) => setTimeout(r, 20));
    const health = (await cache.readWithHealth(id)).health ?? new Map();
    const expected = votesOf(await store.read(id));
    expect(ids.map((e) => [e, healthOf(health, at(e))])).toEqual(ids.map((e) => [e, healthOf(expected, at(e))]));
    expect(ids.map((e) => healthOf(health, at(e)))).toEqual(['healthy', 'unknown', 'unhealthy', 'unknown', 'healthy', 'unhealthy']);
  });

  it("the cache read brings the route's health in the same round trip", async () => {
    const cache = new RouteCache(client, prefix, 60_000);
    const endpoints: PolicyEndpoint[] = [
      { id: 'blue', url: 'https://blue.example', priority: 1, weight: 1, state: 'enabled', healthRevision: 4 },
      { id: 'green', url: 'https://green.example', priority: 2, weight: 1, state: 'enabled', healthRevision: 4 },
    ];
    const healthCheck = { type: 'tcp' as const, intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 1, unhealthyThreshold: 1 };
    const data: RouteEventData = { ...id, url: 'https://blue.example', revision: 4, endpoints, healthCheck };
    await cache.applyEvents([{ data, time: Date.now() }], 'refresh');
    await store.recordVerdict(id, blue, verdict('p1', 'unhealthy'));
    const { entry, health = new Map() } = await cache.readWithHealth(id);
    expect(entry?.route).toEqual({ url: 'https://blue.example', revision: 4, endpoints, healthCheck });
    expect(healthOf(health, blue)).toBe('unhealthy');
    expect(healthOf(health, { id: 'green', healthRevision: 4 })).toBe('unknown');
    expect([...health]).toEqual([['blue|4', 'unhealthy']]);
    // Without its summary (expired, or never written) the read counts the verdicts: the same health.
    await client.del(healthSummaryKey(prefix, id));
    expect([...((await cache.readWithHealth(id)).health ?? [])]).toEqual([['blue|4', 'unhealthy']]);
  });

  it('a route not probed reads no health: its endpoints are unknown whatever the hash holds', async () => {
    const cache = new RouteCache(client, prefix, 60_000);
    const endpoints: PolicyEndpoint[] = [{ id: 'blue', url: 'https://blue.example', priority: 1, weight: 1, state: 'enabled', healthRevision: 4 }];
    await cache.applyEvents([{ data: { ...id, url: 'https://blue.example', revision: 4, endpoints, healthCheck: null }, time: Date.now() }], 'refresh');
    await store.recordVerdict(id, blue, verdict('p1', 'unhealthy'));
    expect((await cache.readWithHealth(id)).health).toBeUndefined();
  });
});

describe('RouteCache policies (real Redis)', () => {
  let client: RedisClient;
  let prefix: string;
  beforeAll(async () => {
    client = createRedisClient({ url: testInfra().redisUrl });
    await client.connect();
  });
  beforeEach(() => {
    prefix = testKeyPrefix();
  });
  afterEach(() => deleteKeysWithPrefix(prefix));
  afterAll(() => client.close());

  it('an event of the single-URL shape (an older command API, mid-upgrade) replaces a policy with its one URL', async () => {
    const cache = new RouteCache(client, prefix, 60_000);
    const endpoints: PolicyEndpoint[] = [
      { id: 'a', url: 'https://a.example', priority: 1, weight: 1, state: 'enabled', healthRevision: 1 },
      { id: 'b', url: 'https://b.example', priority: 1, weight: 1, state: 'enabled', healthRevision: 1 },
    ];
    await cache.applyEvents([{ data: { ...id, url: 'https://a.example', revision: 1, endpoints, healthCheck: null }, time: Date.now() }], 'refresh');
    expect((await cache.read(id))?.route?.endpoints).toHaveLength(2);
    await cache.applyEvents([{ data: { ...id, url: 'https://old.example', revision: 2 }, time: Date.now() }], 'refresh');
    expect((await cache.read(id))?.route).toEqual({
      url: 'https://old.example',
      revision: 2,
      endpoints: [{ id: 'default', url: 'https://old.example', priority: 1, weight: 1, state: 'enabled', healthRevision: 2 }],
      healthCheck: null,
    });
    expect(await client.hGet(cache.key(id), 'pol')).toBeNull();
  });
});
