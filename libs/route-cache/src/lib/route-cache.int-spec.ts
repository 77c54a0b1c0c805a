import { ErrorReply } from 'redis';
import type { RouteEventData } from '@tm/contracts';
import { deleteKeysWithPrefix, testInfra, testKeyPrefix, TestRedisServer } from '@tm/testing';
import { freshness } from './entry';
import { createRedisClient, type RedisClient } from './redis.module';
import { RouteCache, type Fill, type InvalidationMode } from './route-cache';

const id = { tenant: 'acme', service: 'web', environment: 'prod' };
const T0 = 1_700_000_000_000;

/** A fill as the resolver offers it: the lease taken first (before its database read), then the fill. */
async function offer(cache: RouteCache, fill: Omit<Fill, 'lease'>): Promise<boolean> {
  return (await cache.fill({ ...fill, lease: await cache.prepare(fill.id) })) === 'accepted';
}

function event(revision: number, url: string | null, time = T0 + revision): { data: RouteEventData; time: number } {
  return { data: { ...id, url, revision }, time };
}

/** The cache protocol against a real Redis: every ordering of fills and events converges (G6). */
describe('RouteCache (real Redis)', () => {
  let client: RedisClient;
  let prefix: string;
  let cache: RouteCache;
  beforeAll(async () => {
    client = createRedisClient({ url: testInfra().redisUrl });
    await client.connect();
  });
  beforeEach(() => {
    prefix = testKeyPrefix();
    cache = new RouteCache(client, prefix, 60_000);
  });
  afterEach(() => deleteKeysWithPrefix(prefix));
  afterAll(() => client.close());

  it('a fill is read back; Redis expiry is the stale grace, not the TTL', async () => {
    expect(await offer(cache, { id, route: { url: 'https://a', revision: 3 }, asOf: 10, knownAt: T0 })).toBe(true);
    expect(await cache.read(id)).toEqual({ route: { url: 'https://a', revision: 3, endpoints: [{ id: 'default', url: 'https://a', priority: 1, weight: 1, state: 'enabled', healthRevision: 3 }], healthCheck: null }, asOf: 10, knownAt: T0, invalidated: false });
    const ttl = await client.pTTL(cache.key(id));
    expect(ttl).toBeGreaterThan(59_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('a fill from an older snapshot never overwrites a newer entry; an equal one restamps knownAt, even backwards', async () => {
    await offer(cache, { id, route: { url: 'https://new', revision: 8 }, asOf: 20, knownAt: T0 });
    expect(await offer(cache, { id, route: { url: 'https://old', revision: 3 }, asOf: 19, knownAt: T0 + 5 })).toBe(false);
    expect((await cache.read(id))?.route?.url).toBe('https://new');
    expect(await offer(cache, { id, route: { url: 'https://new', revision: 8 }, asOf: 20, knownAt: T0 + 7 })).toBe(true);
    expect((await cache.read(id))?.knownAt).toBe(T0 + 7);
    // A later fill's read began later on the database's clock: an entry stamped after it was stamped
    // from the future (the clock stepped back since), and the fill's time replaces it.
    expect(await offer(cache, { id, route: { url: 'https://new', revision: 8 }, asOf: 20, knownAt: T0 + 1 })).toBe(true);
    expect((await cache.read(id))?.knownAt).toBe(T0 + 1);
  });

  it('an event stamped in the future is corrected by the next fill of the same revision', async () => {
    await cache.applyEvents([event(4, 'https://v4', T0 + 3_600_000)], 'refresh');
    expect(await cache.read(id)).toMatchObject({ asOf: 4, knownAt: T0 + 3_600_000 });
    expect(await offer(cache, { id, route: { url: 'https://v4', revision: 4 }, asOf: 4, knownAt: T0 + 10 })).toBe(true);
    expect(await cache.read(id)).toMatchObject({ route: { url: 'https://v4', revision: 4 }, asOf: 4, knownAt: T0 + 10, invalidated: false });
  });

  it.each<InvalidationMode>(['refresh', 'invalidate'])('%s: a fill older than an event already applied is rejected (the stale-set race)', async (mode) => {
    await offer(cache, { id, route: { url: 'https://v1', revision: 1 }, asOf: 5, knownAt: T0 });
    // A fill read the database as of 6 (before the write at 7), then the write's event arrived first.
    await cache.applyEvents([event(7, 'https://v2')], mode);
    expect(await offer(cache, { id, route: { url: 'https://v1', revision: 1 }, asOf: 6, knownAt: T0 + 1 })).toBe(false);
    const entry = await cache.read(id);
    if (mode === 'refresh') expect(entry).toMatchObject({ route: { url: 'https://v2', revision: 7 }, asOf: 7, invalidated: false });
    else expect(entry).toMatchObject({ route: { url: 'https://v1' }, asOf: 5, invalidated: true });
    // A fill that includes the write is accepted.
    expect(await offer(cache, { id, route: { url: 'https://v2', revision: 7 }, asOf: 9, knownAt: T0 + 2 })).toBe(true);
    expect(await cache.read(id)).toMatchObject({ route: { url: 'https://v2', revision: 7 }, asOf: 9, invalidated: false });
  });

  it('the same for a delete: a fill that still saw the route is rejected after the delete event', async () => {
    await cache.applyEvents([event(4, null)], 'refresh');
    expect(await offer(cache, { id, route: { url: 'https://gone', revision: 2 }, asOf: 3, knownAt: T0 })).toBe(false);
    expect(await cache.read(id)).toMatchObject({ route: null, asOf: 4 });
  });

  it('duplicate and out-of-order events change nothing', async () => {
    expect(await cache.applyEvents([event(5, 'https://v5'), event(5, 'https://v5'), event(3, 'https://v3'), event(6, 'https://v6'), event(4, 'https://v4')], 'refresh')).toEqual([
      true,
      false,
      false,
      true,
      false,
    ]);
    expect(await cache.read(id)).toMatchObject({ route: { url: 'https://v6', revision: 6 }, asOf: 6 });
  });

  it('a delete then a re-create converge, in either arrival order of their duplicates', async () => {
    await cache.applyEvents([event(1, 'https://a'), event(2, null), event(3, 'https://b'), event(2, null), event(1, 'https://a')], 'refresh');
    expect(await cache.read(id)).toMatchObject({ route: { url: 'https://b', revision: 3 }, asOf: 3 });
  });

  it('invalidate mode without an entry leaves a fence only: an older fill is refused, a newer one taken', async () => {
    await cache.applyEvents([event(9, 'https://v9')], 'invalidate');
    expect(await cache.read(id)).toBeUndefined();
    expect(await offer(cache, { id, route: { url: 'https://v8', revision: 8 }, asOf: 8, knownAt: T0 })).toBe(false);
    expect(await offer(cache, { id, route: { url: 'https://v9', revision: 9 }, asOf: 12, knownAt: T0 })).toBe(true);
  });

  it("one event's error reply (WRONGTYPE: a string at the route's key) is its own outcome; the others in the round trip apply", async () => {
    const other = { tenant: 'acme', service: 'api', environment: 'prod' };
    await client.set(cache.key(id), 'not a hash');
    const outcomes = await cache.applyEvents([event(2, 'https://bad'), { data: { ...other, url: 'https://good', revision: 3 }, time: T0 }], 'refresh');
    expect(outcomes[0]).toBeInstanceOf(ErrorReply);
    expect(String(outcomes[0])).toMatch(/WRONGTYPE/);
    expect(outcomes[1]).toBe(true);
    expect(await cache.read(other)).toMatchObject({ route: { url: 'https://good', revision: 3 } });
    expect(await client.get(cache.key(id))).toBe('not a hash');
  });

  it('survives a script cache flush: the fill and a batch of events succeed at the first try', async () => {
    await client.scriptFlush();
    expect(await offer(cache, { id, route: { url: 'https://a', revision: 1 }, asOf: 1, knownAt: T0 })).toBe(true);
    await client.scriptFlush();
    // Several calls of the script in one round trip, all answered NOSCRIPT, then EVAL by node-redis.
    expect(await cache.applyEvents([event(2, 'https://b'), event(3, 'https://c'), event(3, 'https://c'), event(2, 'https://b')], 'refresh')).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect(await cache.read(id)).toMatchObject({ route: { url: 'https://c', revision: 3 }, asOf: 3 });
  });
});

describe('RouteCache across a restart of its redis-server', () => {
  let server: TestRedisServer;
  let client: RedisClient;
  beforeAll(async () => {
    server = await TestRedisServer.start();
    client = createRedisClient({ url: server.url });
    client.on('error', () => undefined);
    await client.connect();
  });
  afterAll(async () => {
    client.destroy();
    await server.stop();
  });

  it('after the restart (an empty Redis, no scripts) the fill and a batch of events go on without an error', async () => {
    const cache = new RouteCache(client, 'tm:test:restart:', 60_000);
    expect(await cache.applyEvents([event(1, 'https://a')], 'refresh')).toEqual([true]);
    await server.kill();
    await server.restart();
    await waitUntilReady(client);
    expect(await cache.applyEvents([event(2, 'https://b'), event(3, 'https://c')], 'refresh')).toEqual([true, true]);
    await server.kill();
    await server.restart();
    await waitUntilReady(client);
    expect(await offer(cache, { id, route: { url: 'https://c', revision: 3 }, asOf: 4, knownAt: T0 })).toBe(true);
    expect(await cache.read(id)).toMatchObject({ route: { url: 'https://c', revision: 3 }, asOf: 4 });
  });
});

async function waitUntilReady(client: RedisClient): Promise<void> {
  for (let i = 0; i < 200 && !client.isReady; i++) await new Promise((r) => setTimeout(r, 25));
  expect(client.isReady).toBe(true);
}

describe('freshness', () => {
  const policy = { ttlMs: 60_000, negativeTtlMs: 5_000 };
  it('counts from knownAt; a negative answer is fresh at most 5 s; an invalidated one never', () => {
    const present = { route: { url: 'u', revision: 1 }, asOf: 1, knownAt: T0, invalidated: false };
    expect(freshness(present, policy, T0 + 59_000)).toEqual({ leftMs: 1_000, ageMs: 59_000 });
    expect(freshness(present, policy, T0 + 61_000).leftMs).toBeLessThan(0);
    expect(freshness({ ...present, route: null }, policy, T0 + 4_000).leftMs).toBe(1_000);
    expect(freshness({ ...present, route: null }, policy, T0 + 6_000).leftMs).toBeLessThan(0);
    expect(freshness({ ...present, invalidated: true }, policy, T0).leftMs).toBe(0);
  });

  it('an answer known current from a time after now is not fresh (a time from the future cannot keep it fresh)', () => {
    const present = { route: { url: 'u', revision: 1 }, asOf: 1, knownAt: T0, invalidated: false };
    expect(freshness(present, policy, T0)).toEqual({ leftMs: 60_000, ageMs: 0 });
    expect(freshness(present, policy, T0 - 1)).toEqual({ leftMs: 0, ageMs: 0 });
    expect(freshness(present, policy, T0 - 3_600_000).leftMs).toBe(0);
  });
});
