import { FaultProxy } from '@tm/testing';
import { CommandApiUnderTest } from './command-api.test-support';

/** PostgreSQL down: 503 problem with Retry-After, never a 500; the app recovers by itself. */
describe('command API with PostgreSQL cut', () => {
  let api: CommandApiUnderTest;
  let proxy: FaultProxy;
  /** A stored key bound to the tenant, as clients hold (the admin token needs no database). */
  let writer: string;
  beforeAll(async () => {
    api = await CommandApiUnderTest.start({
      databaseUrl: async (url) => {
        const fronted = await FaultProxy.forUrl(url);
        proxy = fronted.proxy;
        return fronted.url;
      },
    });
    expect((await api.request('PUT', '/v1/routes/acme/web/prod', { body: { url: 'https://web.acme.internal' } })).status).toBe(201);
    writer = await api.createKey(['routes:write'], 'acme');
    expect((await api.request('GET', '/v1/routes/acme/web/prod', { token: writer })).status).toBe(200);
  });
  afterAll(async () => {
    await api.stop();
    await proxy.stop();
  });

  it.each([
    ['PUT', '/v1/routes/acme/web/prod', { url: 'https://web2.acme.internal' }],
    ['GET', '/v1/routes/acme/web/prod', undefined],
    ['DELETE', '/v1/routes/acme/web/prod', undefined],
    ['GET', '/v1/routes', undefined],
    ['POST', '/v1/tenants', { slug: 'newco' }],
  ] as const)('%s %s answers 503 with Retry-After while the database refuses', async (method, url, body) => {
    proxy.refuse();
    const res = await api.request(method, url, { body });
    expect(res.status).toBe(503);
    // A stored key cannot be checked either: 503, never 401.
    if (!url.startsWith('/v1/tenants')) expect((await api.request(method, url, { body, token: writer })).status).toBe(503);
    expect(res.headers['retry-after']).toMatch(/^\d+$/);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 503, title: 'Service Unavailable' });
    expect(JSON.stringify(res.body)).not.toMatch(/at \w+ \(|ECONNREFUSED|stack/);
  });

  it('readiness says postgres is down', async () => {
    proxy.refuse();
    const res = await api.request('GET', '/health/ready', { token: null });
    expect(res.status).toBe(503);
    expect(res.json()).toMatchObject({ error: { postgres: { status: 'down' } } });
  });

  it('recovers by itself when the database is back', async () => {
    proxy.refuse();
    expect((await api.request('GET', '/v1/routes/acme/web/prod')).status).toBe(503);
    proxy.restore();
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await api.request('PUT', '/v1/routes/acme/web/prod', { body: { url: 'https://web3.acme.internal' } })).status;
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
    expect((await api.request('GET', '/v1/routes/acme/web/prod')).json()).toMatchObject({ url: 'https://web3.acme.internal' });
    expect((await api.request('GET', '/health/ready', { token: null })).status).toBe(200);
  });
});
