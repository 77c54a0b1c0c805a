import { ADMIN_TOKEN, ResolverUnderTest } from '../resolver.test-support';

/** GET /v1/whoami on the resolver too (docs/http-apis.md). */
describe('GET /v1/whoami (resolver)', () => {
  let r: ResolverUnderTest;
  beforeAll(async () => {
    r = await ResolverUnderTest.start();
  });
  afterAll(() => r.stop());

  it('tells a key what it may do; the admin token that it is admin; no key: 401', async () => {
    const get = (token?: string) => r.app.inject({ method: 'GET', url: '/v1/whoami', headers: token ? { authorization: `Bearer ${token}` } : {} });
    expect((await get(ADMIN_TOKEN)).json()).toEqual({ admin: true, scopes: ['admin'] });
    const key = await r.createKey(['routes:read'], 'whoami');
    const me = await get(key);
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ keyId: expect.any(String), name: 'test', tenant: 'whoami', scopes: ['routes:read'] });
    expect((await get()).statusCode).toBe(401);
  });
});
