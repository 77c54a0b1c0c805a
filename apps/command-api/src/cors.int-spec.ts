import { CommandApiUnderTest } from './command-api.test-support';

const CONSOLE = 'http://127.0.0.1:3000';
const ELSEWHERE = 'https://evil.example.com';

function expectCors(headers: Record<string, unknown>): void {
  expect(headers['access-control-allow-origin']).toBe(CONSOLE);
  expect(String(headers['vary'])).toMatch(/\bOrigin\b/i);
  expect(String(headers['access-control-expose-headers']).toLowerCase().split(/,\s*/)).toEqual(
    expect.arrayContaining(['x-request-id', 'etag', 'location', 'retry-after', 'www-authenticate', 'x-route-revision', 'x-consistency-revision']),
  );
  expect(headers['access-control-allow-credentials']).toBeUndefined();
}

function expectNoCors(headers: Record<string, unknown>): void {
  expect(Object.keys(headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
}

/** CORS_ALLOWED_ORIGINS on the command API: the listed origins read answers and errors; no other origin does; never `*`. */
describe('the command API across origins', () => {
  let api: CommandApiUnderTest;
  beforeAll(async () => {
    api = await CommandApiUnderTest.start({ env: { CORS_ALLOWED_ORIGINS: `${CONSOLE},http://localhost:3000` } });
  });
  afterAll(() => api.stop());

  it('answers a write and a read from an allowed origin with its CORS headers (ETag, Location, X-Route-Revision readable)', async () => {
    const put = await api.request('PUT', '/v1/routes/corsw/web/prod', { body: { url: 'https://web.corsw.internal/' }, headers: { origin: CONSOLE } });
    expect(put.status).toBe(201);
    expect(put.headers['location']).toBe('/v1/routes/corsw/web/prod');
    expectCors(put.headers);
    const get = await api.request('GET', '/v1/routes/corsw/web/prod', { headers: { origin: CONSOLE } });
    expect(get.status).toBe(200);
    expect(get.headers['etag']).toMatch(/^"\d+"$/);
    expectCors(get.headers);
  });

  it('lets the allowed origin read a 401 (WWW-Authenticate) and a 404 problem', async () => {
    const unauthorised = await api.request('GET', '/v1/routes', { token: null, headers: { origin: CONSOLE } });
    expect(unauthorised.status).toBe(401);
    expect(unauthorised.headers['www-authenticate']).toMatch(/^Bearer/);
    expectCors(unauthorised.headers);
    const missing = await api.request('GET', '/v1/no-such-thing', { headers: { origin: CONSOLE } });
    expect(missing.status).toBe(404);
    expectCors(missing.headers);
  });

  it('answers the preflight of a conditional PUT: 204, its methods and headers, for 10 minutes, never *', async () => {
    const res = await api.app.inject({
      method: 'OPTIONS',
      url: '/v1/routes/corsw/web/prod',
      headers: { origin: CONSOLE, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'authorization,content-type,if-match' },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(CONSOLE);
    expect(res.headers['access-control-allow-methods']).toBe('GET, HEAD, PUT, POST, PATCH, DELETE');
    expect(res.headers['access-control-allow-headers']).toBe('Authorization, Content-Type, If-Match, If-None-Match, last-event-id, Cache-Control, x-request-id, x-min-revision');
    expect(res.headers['access-control-max-age']).toBe('600');
  });

  it('gives an origin that is not listed nothing: no CORS header on answers, a 404 for its preflight', async () => {
    const get = await api.request('GET', '/v1/routes', { headers: { origin: ELSEWHERE } });
    expect(get.status).toBe(200);
    expectNoCors(get.headers);
    const preflight = await api.app.inject({ method: 'OPTIONS', url: '/v1/routes', headers: { origin: ELSEWHERE, 'access-control-request-method': 'DELETE' } });
    expect(preflight.statusCode).toBe(404);
    expectNoCors(preflight.headers);
  });

  it('adds no CORS header to a request without Origin (same origin, or not a browser)', async () => {
    expectNoCors((await api.request('GET', '/v1/routes')).headers);
  });
});
