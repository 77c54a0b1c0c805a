import { CommandApiUnderTest } from './command-api.test-support';

/** G9: a key scoped to tenant A can neither read nor change anything of tenant B. */
describe('tenant isolation (command API)', () => {
  let api: CommandApiUnderTest;
  let keyA: string;
  let readerA: string;
  beforeAll(async () => {
    api = await CommandApiUnderTest.start();
    for (const route of ['tenant-a/web/prod', 'tenant-a/web/staging', 'tenant-b/web/prod', 'tenant-b/db/prod']) {
      await api.request('PUT', `/v1/routes/${route}`, { body: { url: `https://${route.replace(/\//g, '-')}.internal` } });
    }
    keyA = await api.createKey(['routes:write'], 'tenant-a');
    readerA = await api.createKey(['routes:read'], 'tenant-a');
  });
  afterAll(() => api.stop());

  // Every row has four entries: jest would take a missing one for a done callback.
  const forbiddenOnB: [string, 'GET' | 'PUT' | 'DELETE' | 'POST', string, unknown][] = [
    ['read a route', 'GET', '/v1/routes/tenant-b/web/prod', undefined],
    ['write a route', 'PUT', '/v1/routes/tenant-b/web/prod', { url: 'https://evil.example' }],
    ['create a route', 'PUT', '/v1/routes/tenant-b/new/prod', { url: 'https://evil.example' }],
    ['delete a route', 'DELETE', '/v1/routes/tenant-b/web/prod', undefined],
    ['list its routes', 'GET', '/v1/routes?tenant=tenant-b', undefined],
    ['read the tenant', 'GET', '/v1/tenants/tenant-b', undefined],
    ['delete the tenant', 'DELETE', '/v1/tenants/tenant-b', undefined],
    ['create a key', 'POST', '/v1/api-keys', { name: 'x', tenant: 'tenant-b', scopes: ['routes:read'] }],
  ];

  it.each(forbiddenOnB)('a key of tenant A cannot %s of tenant B (403)', async (_what, method, url, body) => {
    const before = (await api.db.query('SELECT revision::int FROM store_revision')).rows;
    const res = await api.request(method, url, { token: keyA, body });
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ status: 403, title: 'Forbidden' });
    expect((await api.db.query('SELECT revision::int FROM store_revision')).rows).toEqual(before);
  });

  it("tenant B's routes never appear in A's lists", async () => {
    for (const url of ['/v1/routes', '/v1/routes?service=web', '/v1/routes?limit=500']) {
      const res = await api.request('GET', url, { token: readerA });
      expect(res.status).toBe(200);
      const tenants = res.json<{ items: { tenant: string }[] }>().items.map((r) => r.tenant);
      expect(tenants.length).toBeGreaterThan(0);
      expect(new Set(tenants)).toEqual(new Set(['tenant-a']));
    }
    const tenants = await api.request('GET', '/v1/tenants', { token: readerA });
    expect(tenants.json<{ items: { slug: string }[] }>().items.map((t) => t.slug)).toEqual(['tenant-a']);
  });

  it('a read-only key of A cannot write even in A', async () => {
    expect((await api.request('PUT', '/v1/routes/tenant-a/web/prod', { token: readerA, body: { url: 'https://x.example' } })).status).toBe(403);
    expect((await api.request('DELETE', '/v1/routes/tenant-a/web/prod', { token: readerA })).status).toBe(403);
  });

  it('a write key of A works in A', async () => {
    const res = await api.request('PUT', '/v1/routes/tenant-a/web/prod', { token: keyA, body: { url: 'https://web-a-v2.internal' } });
    expect(res.status).toBe(200);
    expect((await api.request('GET', '/v1/routes/tenant-a/web/prod', { token: keyA })).status).toBe(200);
  });
});
