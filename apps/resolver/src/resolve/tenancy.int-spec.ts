import { FaultProxy } from '@tm/testing';
import { ResolverUnderTest } from '../resolver.test-support';

/**
 * A tenant is its id, not its slug (docs/guarantees.md, "Tenancy"): a tenant deleted and created
 * again under the same slug is another tenant to every cache entry and credential. The keys are the
 * stored, tenant-bound ones real clients hold; the old tenant's key is still trusted from the auth
 * cache (the window a revocation takes), and the cache still holds entries of the other tenant (an
 * event not applied yet), which is where a slug would leak.
 */
describe('resolve: tenants by id (a slug deleted and created again)', () => {
  let r: ResolverUnderTest;
  let proxy: FaultProxy;

  beforeAll(async () => {
    r = await ResolverUnderTest.start({
      databaseUrl: async (url) => {
        const fronted = await FaultProxy.forUrl(url);
        proxy = fronted.proxy;
        return fronted.url;
      },
      // Keys stay trusted from the cache for the whole test: the revocation window held open.
      env: { AUTH_CACHE_TTL_MS: '60000' },
    });
  });
  afterAll(async () => {
    await r.stop();
    await proxy.stop();
  });

  /** Deletes the tenant as the command API does (its routes with their events, then the tenant: its keys cascade). */
  async function deleteTenant(slug: string): Promise<void> {
    const { rows } = await r.db.query<{ route: string }>(
      `SELECT t.slug || '/' || s.name || '/' || e.environment AS route FROM endpoints e JOIN services s ON s.id = e.service_id JOIN tenants t ON t.id = s.tenant_id WHERE t.slug = $1`,
      [slug],
    );
    for (const { route } of rows) await r.write(route, null);
    await r.db.query('DELETE FROM services WHERE tenant_id = (SELECT id FROM tenants WHERE slug = $1)', [slug]);
    await r.db.query('DELETE FROM tenants WHERE slug = $1', [slug]);
  }

  it("never answers one tenant's cached route to a key of another tenant under the same slug", async () => {
    const first = await r.write('reborn/web/prod', 'https://old-owner.example');
    await r.apply([first]);
    const oldKey = await r.createKey(['routes:read'], 'reborn');
    expect((await r.resolve('reborn/web/prod', { token: oldKey })).body['url']).toBe('https://old-owner.example');

    await deleteTenant('reborn');
    // A new owner takes the slug; the worker has not applied the deletion yet: the old entry is cached.
    const second = await r.write('reborn/web/prod', 'https://new-owner.example');
    const newKey = await r.createKey(['routes:read'], 'reborn');
    const fresh = await r.resolve('reborn/web/prod', { token: newKey });
    expect(fresh.status).toBe(200);
    expect(fresh.body['url']).toBe('https://new-owner.example');
    expect(fresh.headers['x-cache']).toBe('MISS');

    // The old owner's key, still trusted from the auth cache, never reads the new owner's route.
    await r.apply([second]);
    const refused = await r.resolve('reborn/web/prod', { token: oldKey });
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ status: 401, detail: expect.stringContaining('was deleted') });
    expect(refused.headers['www-authenticate']).toMatch(/^Bearer/);
    // Nor its endpoints' health.
    const health = await r.app.inject({ method: 'GET', url: '/v1/routes/reborn/web/prod/health', headers: { authorization: `Bearer ${oldKey}` } });
    expect(health.statusCode).toBe(401);
    const own = await r.app.inject({ method: 'GET', url: '/v1/routes/reborn/web/prod/health', headers: { authorization: `Bearer ${newKey}` } });
    expect(own.statusCode).toBe(200);
    // The new owner's key hits the entry now in the cache.
    const hit = await r.resolve('reborn/web/prod', { token: newKey });
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.body['url']).toBe('https://new-owner.example');
  });

  it("during a PostgreSQL outage, a remembered key never gets a cached route of its slug's new tenant", async () => {
    const before = await r.write('outage/web/prod', 'https://old-owner.example');
    const oldKey = await r.createKey(['routes:read'], 'outage');
    await r.apply([before]);
    expect((await r.resolve('outage/web/prod', { token: oldKey })).status).toBe(200);
    await deleteTenant('outage');
    const after = await r.write('outage/web/prod', 'https://new-owner.example');
    await r.apply([after], 'invalidate');
    // The new owner's entry, invalidated: with the database cut it would be served STALE to its own keys.
    await r.worker.fill({
      id: { tenant: 'outage', service: 'web', environment: 'prod' },
      route: { url: 'https://new-owner.example', revision: after.data.revision, tenantId: after.tenantId },
      asOf: after.data.revision,
      knownAt: Date.now() - 120_000,
      lease: await r.worker.prepare({ tenant: 'outage', service: 'web', environment: 'prod' }),
    });
    // This replica's feed has read the deletion and the new owner's write (memory holds neither owner's answer).
    await r.feedHas(after.data.revision);
    proxy.refuse();
    try {
      const res = await r.resolve('outage/web/prod', { token: oldKey });
      expect(res.status).toBe(503);
      expect(JSON.stringify(res.body)).not.toContain('new-owner');
    } finally {
      proxy.restore();
    }
  });
});
