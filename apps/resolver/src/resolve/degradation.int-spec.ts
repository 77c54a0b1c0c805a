import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { tokenDigest } from '@tm/auth';
import { FaultProxy, testInfra } from '@tm/testing';
import { resolveOn, ResolverUnderTest } from '../resolver.test-support';

/**
 * G8: Redis down, answers from the database (BYPASS); PostgreSQL down, cached answers as STALE, others
 * 503, for every stored key a replica verified while the database was up. Clients use stored,
 * tenant-scoped keys, as real ones do (the admin token needs no database and would hide an outage).
 */
describe('resolver degradation', () => {
  describe('Redis cut', () => {
    let r: ResolverUnderTest;
    let proxy: FaultProxy;
    let reader: string;
    beforeAll(async () => {
      const fronted = await FaultProxy.forUrl(testInfra().redisUrl);
      proxy = fronted.proxy;
      r = await ResolverUnderTest.start({
        redisUrl: fronted.url,
        env: { REDIS_BREAKER_THRESHOLD: '2', REDIS_BREAKER_OPEN_MS: '200', AUTH_CACHE_TTL_MS: String(AUTH_TTL_MS) },
      });
      reader = await r.createKey(['routes:read'], 'acme');
      await r.write('acme/web/prod', 'https://web.acme.internal/');
      await r.resolve('acme/web/prod', { token: reader });
      expect((await r.resolve('acme/web/prod', { token: reader })).headers['x-cache']).toBe('HIT');
    });
    afterAll(async () => {
      await r.stop();
      await proxy.stop();
    });

    it('answers go on from the database as BYPASS, 200, while Redis refuses', async () => {
      proxy.refuse();
      // From the moment the replica's client has seen its connection go (memory answers only while Redis is there).
      await r.redisGone();
      for (let i = 0; i < 10; i++) {
        // Past the key's cache entry too: verified against PostgreSQL, its outage copy not written.
        if (i === 5) await pastAuthCache();
        const res = await r.resolve('acme/web/prod', { token: reader });
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
        cache = (await r.resolve('acme/web/prod', { token: reader })).headers['x-cache'];
        if (cache === 'HIT') break;
        await new Promise((res) => setTimeout(res, 100));
      }
      expect(cache).toBe('HIT');
    });
  });

  describe('PostgreSQL cut, with the stored tenant-scoped keys clients hold', () => {
    let r: ResolverUnderTest;
    let proxy: FaultProxy;
    let proxiedUrl: string;
    /** Verified by this replica before the cut. */
    let reader: string;
    /** Stored, valid, but never presented before the cut. */
    let unseen: string;
    /** Verified, then revoked, before the cut. */
    let revoked: string;
    const replicas: NestFastifyApplication[] = [];
    beforeAll(async () => {
      r = await ResolverUnderTest.start({
        databaseUrl: async (url) => {
          const fronted = await FaultProxy.forUrl(url);
          proxy = fronted.proxy;
          proxiedUrl = fronted.url;
          return fronted.url;
        },
        // A short key cache, so that the cut outlives it (as a 20 s outage outlives the 5 s default).
        env: { AUTH_CACHE_TTL_MS: String(AUTH_TTL_MS) },
      });
      reader = await r.createKey(['routes:read'], 'acme');
      unseen = await r.createKey(['routes:read'], 'acme');
      revoked = await r.createKey(['routes:read'], 'acme');
      await r.write('acme/web/prod', 'https://web.acme.internal/');
      expect((await r.resolve('acme/web/prod', { token: reader })).headers['x-cache']).toBe('MISS');
      expect((await r.resolve('acme/web/prod', { token: revoked })).headers['x-cache']).toBe('HIT');
      await r.db.query("UPDATE api_keys SET revoked_at = now() WHERE lookup = $1", [revoked.split('_')[1]]);
      // Revocation holds once the key's cache entry expires; the database's "revoked" also removes the
      // principal kept for outages.
      await pastAuthCache();
      expect((await r.resolve('acme/web/prod', { token: revoked })).status).toBe(401);
      await until(async () => (await outageEntry(r, revoked)) === 0 && (await outageEntry(r, reader)) === 1);
    });
    afterAll(async () => {
      for (const app of replicas) await app.close();
      await r.stop();
      await proxy.stop();
    });

    it('a fresh cached route is still a HIT, for the key past its cache entry too', async () => {
      proxy.refuse();
      await pastAuthCache();
      const res = await r.resolve('acme/web/prod', { token: reader });
      expect(res.status).toBe(200);
      expect(res.headers['x-cache']).toBe('HIT');
    });

    it('a cached route that is no longer fresh is served as STALE with its Age; an uncached one is 503', async () => {
      proxy.refuse();
      // Memory answers while its feed's proof is young; with the database cut, it soon is not.
      await r.memoryLapsed();
      // A newer write's event (invalidate mode) makes the entry not fresh; the database cannot be asked.
      await r.apply([{ data: { tenant: 'acme', service: 'web', environment: 'prod', url: 'https://unknown/', revision: 1_000 }, time: Date.now() }], 'invalidate');
      const stale = await r.resolve('acme/web/prod', { token: reader });
      expect(stale.status).toBe(200);
      expect(stale.headers).toMatchObject({ 'x-cache': 'STALE', 'cache-control': 'max-age=0' });
      expect(stale.headers['age']).toMatch(/^\d+$/);
      expect(stale.body['url']).toBe('https://web.acme.internal/');
      const unknown = await r.resolve('acme/web/never-cached', { token: reader });
      expect(unknown.status).toBe(503);
      expect(unknown.headers['retry-after']).toMatch(/^\d+$/);
      const strong = await r.resolve('acme/web/prod', { token: reader, query: 'consistency=strong' });
      expect(strong.status).toBe(503);
    });

    it('an entry known current longer ago than the stale grace is not served, even if its key is still there (503)', async () => {
      proxy.refuse();
      const twoDaysAgo = Date.now() - 2 * 86_400_000;
      const id = { tenant: 'acme', service: 'old', environment: 'prod' };
      await r.worker.fill({ id, route: { url: 'https://ancient/', revision: 1 }, asOf: 1, knownAt: twoDaysAgo, lease: await r.worker.prepare(id) });
      const res = await r.resolve('acme/old/prod', { token: reader });
      expect(res.status).toBe(503);
    });

    it('a replica started during the cut serves the same key from the shared cache, and readiness names PostgreSQL', async () => {
      proxy.refuse();
      const replica = await ResolverUnderTest.replicaOf(r, proxiedUrl, { waitForDatabase: false, env: { AUTH_CACHE_TTL_MS: String(AUTH_TTL_MS) } });
      replicas.push(replica);
      const res = await resolveOn(replica, 'acme/web/prod', { token: reader });
      expect(res.status).toBe(200);
      expect(res.headers['x-cache']).toBe('STALE');
      expect(res.body['url']).toBe('https://web.acme.internal/');
      const ready = await replica.inject({ method: 'GET', url: '/health/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.body).toContain('postgres');
    });

    it('a key no replica verified, and a key revoked before the cut: 503, never 401 nor an answer', async () => {
      proxy.refuse();
      for (const token of [unseen, revoked]) {
        const res = await r.resolve('acme/web/prod', { token });
        expect(res.status).toBe(503);
        expect(res.headers['retry-after']).toMatch(/^\d+$/);
      }
      // A token that is not a key at all needs no database to be refused.
      expect((await r.resolve('acme/web/prod', { token: 'not-a-key' })).status).toBe(401);
    });

    it('the key stays within its tenant during the cut', async () => {
      proxy.refuse();
      expect((await r.resolve('other/web/prod', { token: reader })).status).toBe(403);
    });

    it('PostgreSQL back: normal service by itself, on the replica started during the cut too', async () => {
      proxy.restore();
      await until(async () => (await r.resolve('acme/web/never-cached', { token: reader })).status === 404);
      const [replica] = replicas;
      if (!replica) throw new Error('no replica');
      await until(async () => (await resolveOn(replica, 'acme/web/never-cached', { token: unseen })).status === 404);
      expect((await replica.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
      expect((await r.resolve('acme/web/prod', { token: revoked })).status).toBe(401);
    });
  });

  describe('PostgreSQL cut past the auth grace', () => {
    let r: ResolverUnderTest;
    let proxy: FaultProxy;
    beforeAll(async () => {
      r = await ResolverUnderTest.start({
        databaseUrl: async (url) => {
          const fronted = await FaultProxy.forUrl(url);
          proxy = fronted.proxy;
          return fronted.url;
        },
        env: { AUTH_CACHE_TTL_MS: String(AUTH_TTL_MS), AUTH_STALE_GRACE_SECONDS: '1' },
      });
    });
    afterAll(async () => {
      await r.stop();
      await proxy.stop();
    });

    it('a key verified longer ago than AUTH_STALE_GRACE_SECONDS gets 503, not 401', async () => {
      const reader = await r.createKey(['routes:read'], 'acme');
      await r.write('acme/web/prod', 'https://web.acme.internal/');
      expect((await r.resolve('acme/web/prod', { token: reader })).status).toBe(200);
      proxy.refuse();
      await pastAuthCache();
      expect((await r.resolve('acme/web/prod', { token: reader })).headers['x-cache']).toBe('HIT');
      // The grace counts from the verification against the database.
      await new Promise((res) => setTimeout(res, 1_100));
      const res = await r.resolve('acme/web/prod', { token: reader });
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toMatch(/^\d+$/);
    });
  });
});

const AUTH_TTL_MS = 200;

/** Lets the resolver's verified-key cache entries expire. */
function pastAuthCache(): Promise<void> {
  return new Promise((res) => setTimeout(res, AUTH_TTL_MS + 50));
}

async function until(condition: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** Whether the resolver keeps the principal of `token` for outages (1) or not (0). */
function outageEntry(r: ResolverUnderTest, token: string): Promise<number> {
  return r.redis.exists(`${r.prefix}auth:{${tokenDigest(token)}}`);
}
