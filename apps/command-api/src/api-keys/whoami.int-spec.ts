import { CommandApiUnderTest } from '../command-api.test-support';

/** GET /v1/whoami (docs/http-apis.md): any valid key learns what it may do. */
describe('GET /v1/whoami (command API)', () => {
  let api: CommandApiUnderTest;
  beforeAll(async () => {
    api = await CommandApiUnderTest.start();
  });
  afterAll(() => api.stop());

  it('tells a stored key its id, name, tenant and scopes, the admin token that it is admin, and nobody else anything', async () => {
    expect((await api.request('GET', '/v1/whoami')).json()).toEqual({ admin: true, scopes: ['admin'] });
    expect((await api.request('POST', '/v1/tenants', { body: { slug: 'who' } })).status).toBe(201);
    const created = await api.request('POST', '/v1/api-keys', { body: { name: 'reader', tenant: 'who', scopes: ['audit:read', 'routes:read'] } });
    const { id, key } = created.json<{ id: string; key: string }>();
    const me = await api.request('GET', '/v1/whoami', { token: key });
    expect(me.status).toBe(200);
    expect(me.json()).toEqual({ keyId: id, name: 'reader', tenant: 'who', scopes: ['routes:read', 'audit:read'] });
    const unbound = await api.request('POST', '/v1/api-keys', { body: { name: 'ops', scopes: ['routes:write'] } });
    expect((await api.request('GET', '/v1/whoami', { token: unbound.json<{ key: string }>().key })).json()).toMatchObject({ name: 'ops', tenant: null, scopes: ['routes:write'] });
    const none = await api.request('GET', '/v1/whoami', { token: null });
    expect(none.status).toBe(401);
    expect(JSON.stringify(me.json())).not.toContain(key);
  });
});
