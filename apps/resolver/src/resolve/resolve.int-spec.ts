import { DataSource } from 'typeorm';
import type { RouteId } from '@tm/contracts';
import { Barrier, ResolverUnderTest } from '../resolver.test-support';

describe('resolver (in-process, real PostgreSQL and Redis)', () => {
  describe('hits, misses and headers', () => {
    let r: ResolverUnderTest;
    beforeAll(async () => {
      r = await ResolverUnderTest.start();
    });
    afterAll(() => r.stop());

    it('a cold route is a MISS from the database, then a HIT with Age and freshness left', async () => {
      const { data } = await r.write('acme/web/prod', 'https://web.acme.internal/');
      const miss = await r.resolve('acme/web/prod');
      expect(miss.status).toBe(200);
      expect(miss.body).toEqual({
        tenant: 'acme',
        service: 'web',
        environment: 'prod',
        url: 'https://web.acme.internal/',
        revision: data.revision,
        failOpen: false,
        endpoints: [{ id: 'default', url: 'https://web.acme.internal/', priority: 1, weight: 1, state: 'enabled', health: 'unknown' }],
      });
      expect(miss.headers).toMatchObject({
        'x-cache': 'MISS',
        'x-route-revision': String(data.revision),
        'x-consistency-revision': String(data.revision),
      });
      // Freshness left counts from when the read started: just under the 60 s TTL.
      expect(miss.headers['cache-control']).toMatch(/^max-age=(59|60)$/);
      const hit = await r.resolve('acme/web/prod');
      expect(hit.headers).toMatchObject({ 'x-cache': 'HIT', age: '0', 'x-route-revision': String(data.revision) });
      expect(hit.headers['cache-control']).toMatch(/^max-age=(59|60)$/);
      expect(hit.body).toEqual(miss.body);
    });

    it('a missing route is a 404 problem with the same headers, cached as a negative answer', async () => {
      const miss = await r.resolve('acme/web/nowhere');
      expect(miss.status).toBe(404);
      expect(miss.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(miss.headers['x-cache']).toBe('MISS');
      expect(miss.headers['cache-control']).toMatch(/^max-age=(4|5)$/);
      expect(miss.headers['x-consistency-revision']).toMatch(/^\d+$/);
      expect(miss.headers['x-route-revision']).toBeUndefined();
      const hit = await r.resolve('acme/web/nowhere');
      expect(hit.status).toBe(404);
      expect(hit.headers['x-cache']).toBe('HIT');
      // Creating the route: its event replaces the negative answer.
      const created = await r.write('acme/web/nowhere', 'https://now.acme.internal/');
      await r.apply([created]);
      await r.feedHas(created.data.revision);
      const after = await r.resolve('acme/web/nowhere');
      expect(after.status).toBe(200);
      expect(after.headers['x-cache']).toBe('HIT');
      expect(after.body['url']).toBe('https://now.acme.internal/');
    });

    it('consistency=strong reads the database (BYPASS)', async () => {
      const res = await r.resolve('acme/web/prod', { query: 'consistency=strong' });
      expect(res.status).toBe(200);
      expect(res.headers['x-cache']).toBe('BYPASS');
    });

    it('X-Min-Revision: a cached answer behind N is not served; the database answer is; N beyond the store is 412', async () => {
      const first = await r.write('acme/api/prod', 'https://v1.acme.internal/');
      await r.resolve('acme/api/prod');
      // The worker is "stopped": the new write's event is never applied, the cache holds v1.
      const second = await r.write('acme/api/prod', 'https://v2.acme.internal/');
      const plain = await r.resolve('acme/api/prod');
      expect(plain.headers['x-cache']).toBe('HIT');
      expect(plain.body['url']).toBe('https://v1.acme.internal/');
      expect(plain.headers['x-route-revision']).toBe(String(first.data.revision));
      const session = await r.resolve('acme/api/prod', { headers: { 'x-min-revision': String(second.data.revision) } });
      expect(session.status).toBe(200);
      expect(session.body['url']).toBe('https://v2.acme.internal/');
      expect(Number(session.headers['x-consistency-revision'])).toBeGreaterThanOrEqual(second.data.revision);
      // The fill moved the cache forward: the same minimum is now a hit.
      const again = await r.resolve('acme/api/prod', { query: `minRevision=${second.data.revision}` });
      expect(again.headers['x-cache']).toBe('HIT');
      const ahead = await r.resolve('acme/api/prod', { headers: { 'x-min-revision': String(second.data.revision + 1000) } });
      expect(ahead.status).toBe(412);
      const bad = await r.resolve('acme/api/prod', { headers: { 'x-min-revision': 'soon' } });
      expect(bad.status).toBe(400);
    });

    it('a key of another tenant gets 403; no key 401', async () => {
      const other = await r.createKey(['routes:read'], 'globex');
      expect((await r.resolve('acme/web/prod', { token: other })).status).toBe(403);
      const own = await r.createKey(['routes:read'], 'acme');
      expect((await r.resolve('acme/web/prod', { token: own })).status).toBe(200);
      const none = await r.app.inject({ method: 'GET', url: '/v1/resolve/acme/web/prod' });
      expect(none.statusCode).toBe(401);
    });
  });

  describe('key revocation (G9): a verified key is trusted for AUTH_CACHE_TTL_MS, no longer', () => {
    let r: ResolverUnderTest;
    beforeAll(async () => {
      r = await ResolverUnderTest.start({ env: { AUTH_CACHE_TTL_MS: '300' } });
      await r.write('acme/web/prod', 'https://web.acme.internal/');
    });
    afterAll(() => r.stop());

    it.each([
      ['revoked', 'UPDATE api_keys SET revoked_at = now() WHERE lookup = $1'],
      ['deleted', 'DELETE FROM api_keys WHERE lookup = $1'],
    ])('a %s key is refused within the TTL', async (_what, sql) => {
      const key = await r.createKey(['routes:read'], 'acme');
      expect((await r.resolve('acme/web/prod', { token: key })).status).toBe(200);
      await r.db.query(sql, [key.split('_')[1]]);
      const revokedAt = Date.now();
      let status = 200;
      while (status === 200 && Date.now() - revokedAt < 2_000) {
        status = (await r.resolve('acme/web/prod', { token: key })).status;
        if (status === 200) await new Promise((res) => setTimeout(res, 20));
      }
      expect(status).toBe(401);
      expect(Date.now() - revokedAt).toBeLessThan(300 + 200);
    });
  });

  describe('the stale-set race (G6), forced with a hook between the database read and the fill', () => {
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

    it.each([
      ['an update', 'https://new.acme.internal/'],
      ['a delete', null],
    ] as const)('%s committed and applied while a fill is held: the fill is rejected, the next answer is new', async (_what, next) => {
      const route = `acme/${next ? 'upd' : 'del'}/race`;
      await r.write(route, 'https://old.acme.internal/');
      barrier = new Barrier();
      const held = r.resolve(route);
      await barrier.reached; // the fill read the database (old) and waits
      const event = await r.write(route, next);
      expect(await r.apply([event])).toEqual([true]);
      // The replica's feed has read the write too: its memory does not take the held answer either.
      await r.feedHas(event.data.revision);
      barrier.open();
      const stale = await held;
      expect(stale.body['url'] ?? null).toBe('https://old.acme.internal/'); // it answered what it read
      barrier = undefined;
      const after = await r.resolve(route);
      expect(after.headers['x-cache']).toBe('HIT');
      if (next) {
        expect(after.status).toBe(200);
        expect(after.body['url']).toBe(next);
      } else {
        expect(after.status).toBe(404);
      }
      expect(Number(after.headers['x-consistency-revision'])).toBe(event.data.revision);
    });
  });

  describe('single flight', () => {
    let r: ResolverUnderTest;
    let reads = 0;
    beforeAll(async () => {
      r = await ResolverUnderTest.start({ hooks: { onDatabaseRead: () => void reads++ } });
    });
    afterAll(() => r.stop());

    it('100 concurrent reads of a cold route make exactly one database query', async () => {
      await r.write('acme/cold/prod', 'https://cold.acme.internal/');
      reads = 0;
      const answers = await Promise.all(Array.from({ length: 100 }, () => r.resolve('acme/cold/prod')));
      expect(answers.every((a) => a.status === 200 && a.body['url'] === 'https://cold.acme.internal/')).toBe(true);
      expect(reads).toBe(1);
    });
  });

  describe('consistency=strong never joins a read that started before it (forced with a hook after the read)', () => {
    let r: ResolverUnderTest;
    let barrier: Barrier | undefined;
    let reads = 0;
    beforeAll(async () => {
      r = await ResolverUnderTest.start({
        hooks: {
          onDatabaseRead: () => void reads++,
          afterDatabaseRead: async (id: RouteId) => {
            const held = barrier;
            barrier = undefined; // only the first read is held
            if (held && id.environment === 'join') await held.wait();
          },
        },
      });
    });
    afterAll(() => r.stop());

    it('a write answered after a default read started is seen by a strong read that arrives meanwhile', async () => {
      await r.write('acme/strong/join', 'https://old.acme.internal/');
      barrier = new Barrier();
      const opened = barrier;
      const first = r.resolve('acme/strong/join');
      await opened.reached; // the default read has its (old) snapshot and is held
      const { data } = await r.write('acme/strong/join', 'https://new.acme.internal/');
      reads = 0;
      const strong = await r.resolve('acme/strong/join', { query: 'consistency=strong' });
      expect(strong.headers['x-cache']).toBe('BYPASS');
      expect(strong.body['url']).toBe('https://new.acme.internal/');
      expect(Number(strong.headers['x-consistency-revision'])).toBeGreaterThanOrEqual(data.revision);
      expect(reads).toBe(1); // its own read
      opened.open();
      expect((await first).body['url']).toBe('https://old.acme.internal/');
    });
  });

  describe('a saturated pool is overload: 503 with Retry-After, never STALE', () => {
    let r: ResolverUnderTest;
    beforeAll(async () => {
      // Memory off: with it, the feed would put the newer write's state in memory, and no read would need the database.
      r = await ResolverUnderTest.start({ env: { DATABASE_POOL_SIZE: '1', CACHE_LOCAL_MAX_ROUTES: '0' } });
    });
    afterAll(() => r.stop());

    it('an entry past its freshness, while every pooled connection is busy: 503, and STALE is not served', async () => {
      const reader = await r.createKey(['routes:read'], 'acme');
      await r.write('acme/busy/prod', 'https://busy.acme.internal/');
      expect((await r.resolve('acme/busy/prod', { token: reader })).headers['x-cache']).toBe('MISS');
      // A newer write (its event and the feed) makes the entry not fresh: the next answer needs the database.
      const newer = await r.write('acme/busy/prod', 'https://newer.acme.internal/');
      await r.apply([newer], 'invalidate');
      await r.feedHas(newer.data.revision);
      // The pool's only connection is taken (as by a burst of slow reads); the database itself is up.
      const runner = r.app.get(DataSource).createQueryRunner();
      await runner.connect();
      try {
        const res = await r.resolve('acme/busy/prod', { token: reader });
        expect(res.status).toBe(503);
        expect(res.headers['x-cache']).toBeUndefined();
        expect(res.headers['retry-after']).toMatch(/^\d+$/);
        expect(res.body['type']).toBe('urn:traffic-manager:problem:overloaded');
      } finally {
        await runner.release();
      }
      expect((await r.resolve('acme/busy/prod', { token: reader })).status).toBe(200);
    });
  });
});
