import type { HealthCheck, RouteId } from '@tm/contracts';
import { HealthStore, routeCacheKey } from '@tm/route-cache';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Barrier, resolveOn, ResolverUnderTest } from '../resolver.test-support';
import { ChangeFeed } from '../watch/change-feed';
import { LocalRouteCache } from './local-cache';

const CHECK: HealthCheck = { type: 'http', path: '/healthz', intervalSeconds: 2, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2, expectedStatus: '200-299' };
const idOf = (route: string): RouteId => {
  const [tenant, service, environment] = route.split('/') as [string, string, string];
  return { tenant, service, environment };
};

/** The counter of answers memory gave (tm_resolver_local_hits_total). */
async function localHits(r: ResolverUnderTest): Promise<number> {
  const res = await r.app.inject({ method: 'GET', url: '/metrics' });
  const line = res.body.split('\n').find((l) => l.startsWith('tm_resolver_local_hits_total{'));
  return Number(line?.split(' ').pop() ?? Number.NaN);
}

/** Reads of a route from PostgreSQL (tm_resolver_database_reads_total). */
async function databaseReads(r: ResolverUnderTest): Promise<number> {
  const res = await r.app.inject({ method: 'GET', url: '/metrics' });
  const line = res.body.split('\n').find((l) => l.startsWith('tm_resolver_database_reads_total{'));
  return Number(line?.split(' ').pop() ?? Number.NaN);
}

/**
 * The resolver's memory of answers (docs/cache-protocol.md, "The resolver's memory"): hits with no
 * Redis round trip, kept current by this replica's change feed; real PostgreSQL and Redis, and the
 * races that would break it forced with hooks.
 */
describe("the resolver's memory of answers", () => {
  let r: ResolverUnderTest;
  let barrier: Barrier | undefined;
  beforeAll(async () => {
    r = await ResolverUnderTest.start({
      hooks: {
        beforeFill: async (id: RouteId) => {
          if (barrier && id.environment === 'race') await barrier.wait();
        },
      },
    });
  });
  afterAll(() => r.stop());

  it('answers a hit from memory: no Redis read, as of the feed’s proof', async () => {
    const { data } = await r.write('mem/web/prod', 'https://web.mem.internal/');
    await r.feedHas(data.revision);
    expect((await r.resolve('mem/web/prod')).headers['x-cache']).toBe('MISS');
    const before = await localHits(r);
    // The Redis entry goes (as an eviction would): memory still answers, so Redis was not asked.
    await r.redis.del(routeCacheKey(r.prefix, idOf('mem/web/prod')));
    const hit = await r.resolve('mem/web/prod');
    expect(hit.status).toBe(200);
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.body['url']).toBe('https://web.mem.internal/');
    expect(await localHits(r)).toBe(before + 1);
    // Its as-of revision is the feed's: every write up to it is reflected.
    expect(Number(hit.headers['x-consistency-revision'])).toBeGreaterThanOrEqual(data.revision);
    expect(Number(hit.headers['age'])).toBeLessThanOrEqual(1);
  });

  it('a replica started after a route was cached takes the answer Redis holds into memory (its feed starts with the newest changes)', async () => {
    const { data } = await r.write('mem/early/prod', 'https://early.mem.internal/');
    await r.feedHas(data.revision);
    await r.resolve('mem/early/prod'); // the miss that fills Redis, before the replicas below start
    // Another route's write after the fill: the store is past the revision Redis holds the answer as of.
    await r.feedHas((await r.write('mem/later/prod', 'https://later.mem.internal/')).data.revision);
    const hitsOf = async (app: NestFastifyApplication) => {
      const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      return Number(text.split('\n').find((l) => l.startsWith('tm_resolver_local_hits_total{'))?.split(' ').pop() ?? Number.NaN);
    };
    for (const [primeChanges, fromMemory] of [[undefined, 1], [0, 0]] as const) {
      const late = await ResolverUnderTest.replicaOf(r, r.database.url, { watchHooks: primeChanges === undefined ? {} : { primeChanges } });
      try {
        await late.get(ChangeFeed).started;
        const first = await resolveOn(late, 'mem/early/prod');
        expect([first.status, first.headers['x-cache']]).toEqual([200, 'HIT']);
        const before = await hitsOf(late);
        expect((await resolveOn(late, 'mem/early/prod')).body['url']).toBe('https://early.mem.internal/');
        // Primed, the Redis answer (older than the replica) was taken; not primed, it could not be checked.
        expect([primeChanges, (await hitsOf(late)) - before]).toEqual([primeChanges, fromMemory]);
      } finally {
        await late.close();
      }
    }
  });

  it('a write reaches memory through the feed, without waiting for the worker’s event', async () => {
    await r.write('mem/api/prod', 'https://old.mem.internal/');
    await r.resolve('mem/api/prod');
    expect((await r.resolve('mem/api/prod')).headers['x-cache']).toBe('HIT');
    // Committed with its outbox row; the worker has not applied it (Redis still holds the old answer).
    const { data } = await r.write('mem/api/prod', 'https://new.mem.internal/');
    await r.feedHas(data.revision);
    const hits = await localHits(r);
    const reads = await databaseReads(r);
    const after = await r.resolve('mem/api/prod');
    expect(after.body['url']).toBe('https://new.mem.internal/');
    expect(after.headers['x-route-revision']).toBe(String(data.revision));
    // Memory held the route: the feed put the write's state in its place (its event says it all), so
    // neither Redis (still behind) nor the database was asked.
    expect(after.headers['x-cache']).toBe('HIT');
    expect(Number(after.headers['x-consistency-revision'])).toBeGreaterThanOrEqual(data.revision);
    expect([await localHits(r), await databaseReads(r)]).toEqual([hits + 1, reads]);
    // A deletion too: memory answers that the route is gone.
    const gone = await r.write('mem/api/prod', null);
    await r.feedHas(gone.data.revision);
    expect((await r.resolve('mem/api/prod')).status).toBe(404);
    expect(await databaseReads(r)).toBe(reads);
  });

  it('a write to a route memory does not hold does not add it (memory holds what is read)', async () => {
    const before = r.app.get(LocalRouteCache).size;
    const { data } = await r.write('mem/unread/prod', 'https://unread.mem.internal/');
    await r.feedHas(data.revision);
    expect(r.app.get(LocalRouteCache).size).toBe(before);
  });

  it('a negative answer is held, and the route’s creation replaces it', async () => {
    expect((await r.resolve('mem/none/prod')).status).toBe(404);
    const held = await r.resolve('mem/none/prod');
    expect(held.status).toBe(404);
    expect(held.headers['x-cache']).toBe('HIT');
    const { data } = await r.write('mem/none/prod', 'https://now.mem.internal/');
    await r.feedHas(data.revision);
    const created = await r.resolve('mem/none/prod');
    expect(created.status).toBe(200);
    expect(created.body['url']).toBe('https://now.mem.internal/');
  });

  it('X-Min-Revision beyond what memory can vouch for is not answered from memory', async () => {
    const { data } = await r.write('mem/min/prod', 'https://min.mem.internal/');
    await r.feedHas(data.revision);
    await r.resolve('mem/min/prod');
    const ahead = await r.resolve('mem/min/prod', { headers: { 'x-min-revision': String(data.revision + 1_000) } });
    expect(ahead.status).toBe(412);
  });

  it('the race: a miss read before a write, offered to memory after the feed delivered the write, is not taken', async () => {
    const route = 'mem/held/race';
    await r.write(route, 'https://old.mem.internal/');
    barrier = new Barrier();
    const held = r.resolve(route);
    await barrier.reached; // its database read has the old route; its fill (and its offer to memory) wait
    const { data } = await r.write(route, 'https://new.mem.internal/');
    await r.feedHas(data.revision); // memory has heard of the change before the old answer is offered
    barrier.open();
    expect((await held).body['url']).toBe('https://old.mem.internal/'); // it answers what it read
    barrier = undefined;
    const next = await r.resolve(route);
    expect(next.body['url']).toBe('https://new.mem.internal/');
    expect(Number(next.headers['x-consistency-revision'])).toBeGreaterThanOrEqual(data.revision);
  });

  it("a probed route's health: memory drops its votes when a prober publishes a change", async () => {
    const health = new HealthStore(r.redis, r.prefix);
    const local = r.app.get(LocalRouteCache);
    const route = 'mem/probed/prod';
    const { data } = await r.writePolicy(route, {
      endpoints: [
        { id: 'primary', url: 'https://primary.mem.internal/', priority: 1, weight: 1, state: 'enabled' },
        { id: 'backup', url: 'https://backup.mem.internal/', priority: 2, weight: 1, state: 'enabled' },
      ],
      healthCheck: CHECK,
    });
    await r.feedHas(data.revision);
    await r.resolve(route);
    const before = await localHits(r);
    expect((await r.resolve(route)).body['url']).toBe('https://primary.mem.internal/');
    expect(await localHits(r)).toBe(before + 1);
    const heard = local.healthMessages;
    for (const prober of ['p1', 'p2']) {
      await health.recordVerdict(idOf(route), { id: 'primary', healthRevision: data.revision }, { prober, health: 'unhealthy', error: 'connect ECONNREFUSED', ttlMs: 30_000 });
    }
    for (const deadline = Date.now() + 5_000; local.healthMessages === heard && Date.now() < deadline; ) await new Promise((res) => setTimeout(res, 5));
    const failedOver = await r.resolve(route);
    expect(failedOver.body).toMatchObject({ url: 'https://backup.mem.internal/', endpoints: [{ id: 'backup' }, { id: 'primary', health: 'unhealthy' }] });
  });
});
