import { CommandApiUnderTest, snapshot } from './command-api.test-support';

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';
interface Case {
  what: string;
  method: Method;
  url: string;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
  status: number;
  /** A field the 400 must name. */
  field?: string;
}

const ROUTE = '/v1/routes/acme/billing/prod';
const put = (what: string, body: unknown, field = 'url', status = 400): Case => ({ what, method: 'PUT', url: ROUTE, body, status, field });
const long = (n: number) => 'a'.repeat(n);
const ep = (extra: Record<string, unknown> = {}) => ({ id: 'blue', url: 'https://blue.acme.internal', ...extra });
const probed = (healthCheck: unknown) => ({ endpoints: [ep()], healthCheck });

/** Bad traffic policies: each names its field. */
const POLICIES: Case[] = [
  put('url and endpoints both', { url: 'https://x.example', endpoints: [ep()] }, 'endpoints'),
  put('no endpoints', { endpoints: [] }, 'endpoints'),
  put('17 endpoints', { endpoints: Array.from({ length: 17 }, (_, i) => ep({ id: `e${i}` })) }, 'endpoints'),
  put('endpoints as an object', { endpoints: { blue: 'https://blue.acme.internal' } }, 'endpoints'),
  put('an endpoint that is a string', { endpoints: ['https://blue.acme.internal'] }, 'endpoints.0'),
  put('an endpoint id with capitals', { endpoints: [ep({ id: 'Blue' })] }, 'endpoints.0.id'),
  put('an endpoint without an id', { endpoints: [{ url: 'https://blue.acme.internal' }] }, 'endpoints.0.id'),
  put('two endpoints with one id', { endpoints: [ep(), ep({ url: 'https://green.acme.internal' })] }, 'endpoints.1.id'),
  put('an endpoint URL with user info', { endpoints: [ep({ url: 'https://a:b@blue.acme.internal' })] }, 'endpoints.0.url'),
  put('an endpoint without a URL', { endpoints: [{ id: 'blue' }] }, 'endpoints.0.url'),
  put('priority 0', { endpoints: [ep({ priority: 0 })] }, 'endpoints.0.priority'),
  put('priority 1001', { endpoints: [ep({ priority: 1001 })] }, 'endpoints.0.priority'),
  put('priority 1.5', { endpoints: [ep({ priority: 1.5 })] }, 'endpoints.0.priority'),
  put('priority as a string', { endpoints: [ep({ priority: '1' })] }, 'endpoints.0.priority'),
  put('weight -1', { endpoints: [ep({ weight: -1 })] }, 'endpoints.0.weight'),
  put('weight 1001', { endpoints: [ep({ weight: 1001 })] }, 'endpoints.0.weight'),
  put('state on', { endpoints: [ep({ state: 'on' })] }, 'endpoints.0.state'),
  put('an unknown endpoint field', { endpoints: [ep({ region: 'eu' })] }, 'endpoints.0.region'),
  put('healthCheck as a string', probed('http'), 'healthCheck'),
  put('health check type icmp', probed({ type: 'icmp' }), 'healthCheck.type'),
  put('interval 0', probed({ intervalSeconds: 0 }), 'healthCheck.intervalSeconds'),
  put('interval 3601', probed({ intervalSeconds: 3601 }), 'healthCheck.intervalSeconds'),
  put('interval 1.5', probed({ intervalSeconds: 1.5 }), 'healthCheck.intervalSeconds'),
  put('timeout above the interval', probed({ intervalSeconds: 2, timeoutSeconds: 3 }), 'healthCheck.timeoutSeconds'),
  put('timeout above the default interval', probed({ timeoutSeconds: 11 }), 'healthCheck.timeoutSeconds'),
  put('healthy threshold 0', probed({ healthyThreshold: 0 }), 'healthCheck.healthyThreshold'),
  put('unhealthy threshold 11', probed({ unhealthyThreshold: 11 }), 'healthCheck.unhealthyThreshold'),
  put('a path without a slash', probed({ path: 'healthz' }), 'healthCheck.path'),
  put('a path with a fragment', probed({ path: '/healthz#x' }), 'healthCheck.path'),
  put('a path with a space', probed({ path: '/health z' }), 'healthCheck.path'),
  put('a path for a tcp check', probed({ type: 'tcp', path: '/healthz' }), 'healthCheck.path'),
  put('expectedStatus abc', probed({ expectedStatus: 'abc' }), 'healthCheck.expectedStatus'),
  put('expectedStatus 600', probed({ expectedStatus: '600' }), 'healthCheck.expectedStatus'),
  put('expectedStatus 299-200', probed({ expectedStatus: '299-200' }), 'healthCheck.expectedStatus'),
  put('expectedStatus for a tcp check', probed({ type: 'tcp', expectedStatus: '200' }), 'healthCheck.expectedStatus'),
  put('an unknown health check field', probed({ method: 'HEAD' }), 'healthCheck.method'),
];

/** Malformed requests: each is answered 4xx with problem+json, and the database does not change. */
const CASES: Case[] = [
  { what: 'tenant with capitals', method: 'PUT', url: '/v1/routes/Acme/billing/prod', body: { url: 'https://x.example' }, status: 400, field: 'tenant' },
  { what: 'tenant starting with a hyphen', method: 'PUT', url: '/v1/routes/-acme/billing/prod', body: { url: 'https://x.example' }, status: 400, field: 'tenant' },
  { what: 'service ending with a hyphen', method: 'PUT', url: '/v1/routes/acme/billing-/prod', body: { url: 'https://x.example' }, status: 400, field: 'service' },
  { what: 'environment with an underscore', method: 'PUT', url: '/v1/routes/acme/billing/eu_west', body: { url: 'https://x.example' }, status: 400, field: 'environment' },
  { what: 'environment of 64 characters', method: 'PUT', url: `/v1/routes/acme/billing/${long(64)}`, body: { url: 'https://x.example' }, status: 400, field: 'environment' },
  { what: 'percent-encoded slash in a name', method: 'PUT', url: '/v1/routes/acme/bil%2Fling/prod', body: { url: 'https://x.example' }, status: 400, field: 'service' },
  { what: 'unicode in a name', method: 'PUT', url: '/v1/routes/acm%C3%A9/billing/prod', body: { url: 'https://x.example' }, status: 400, field: 'tenant' },
  put('javascript: URL', { url: 'javascript:alert(1)' }),
  put('relative URL', { url: '/billing/api' }),
  put('URL without scheme', { url: 'billing.acme.internal' }),
  put('ftp URL', { url: 'ftp://files.acme.internal' }),
  put('URL with user info', { url: 'https://admin:secret@billing.acme.internal' }),
  put('URL with a fragment', { url: 'https://billing.acme.internal/#top' }),
  put('URL without a host', { url: 'http:///path' }),
  put('URL with a space', { url: 'https://billing.acme.internal/a b' }),
  put('URL over 2048 characters', { url: `https://billing.acme.internal/${long(2048)}` }),
  put('URL as a number', { url: 42 }),
  put('URL as null', { url: null }),
  put('URL as an object', { url: { href: 'https://x.example' } }),
  put('URL as an array', { url: ['https://x.example'] }),
  put('missing url', {}),
  put('unknown field', { url: 'https://x.example', weight: 5 }, 'weight'),
  { what: 'body is an array', method: 'PUT', url: ROUTE, body: [{ url: 'https://x.example' }], status: 400 },
  { what: 'body is a string', method: 'PUT', url: ROUTE, raw: '"https://x.example"', headers: { 'content-type': 'application/json' }, status: 400 },
  { what: 'body is null', method: 'PUT', url: ROUTE, raw: 'null', headers: { 'content-type': 'application/json' }, status: 400 },
  { what: 'broken JSON', method: 'PUT', url: ROUTE, raw: '{"url": "https://x.example"', headers: { 'content-type': 'application/json' }, status: 400 },
  { what: 'empty JSON body', method: 'PUT', url: ROUTE, raw: '', headers: { 'content-type': 'application/json' }, status: 400 },
  { what: 'body that is not JSON', method: 'PUT', url: ROUTE, raw: 'url=https://x.example', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415 },
  { what: 'text/plain body', method: 'PUT', url: ROUTE, raw: 'https://x.example', headers: { 'content-type': 'text/plain' }, status: 415 },
  { what: 'route PUT body over 64 KiB', method: 'PUT', url: ROUTE, raw: JSON.stringify({ url: `https://x.example/${long(66_000)}` }), headers: { 'content-type': 'application/json' }, status: 413 },
  { what: 'other body over 16 KiB', method: 'POST', url: '/v1/tenants', raw: JSON.stringify({ slug: 'newco', displayName: long(17_000) }), headers: { 'content-type': 'application/json' }, status: 413 },
  { what: 'limit of zero', method: 'GET', url: '/v1/routes?limit=0', status: 400, field: 'limit' },
  { what: 'negative limit', method: 'GET', url: '/v1/routes?limit=-5', status: 400, field: 'limit' },
  { what: 'huge limit', method: 'GET', url: '/v1/routes?limit=99999999999999999999999', status: 400, field: 'limit' },
  { what: 'limit that is not a number', method: 'GET', url: '/v1/routes?limit=ten', status: 400, field: 'limit' },
  { what: 'fractional limit', method: 'GET', url: '/v1/routes?limit=2.5', status: 400, field: 'limit' },
  { what: 'forged cursor (not base64url)', method: 'GET', url: '/v1/routes?cursor=%25%25%25', status: 400, field: 'cursor' },
  { what: 'forged cursor (base64 of junk)', method: 'GET', url: `/v1/routes?cursor=${Buffer.from('hello').toString('base64url')}`, status: 400, field: 'cursor' },
  { what: 'forged cursor (bad names)', method: 'GET', url: `/v1/routes?cursor=${Buffer.from(JSON.stringify(['A', 'b', 'c'])).toString('base64url')}`, status: 400, field: 'cursor' },
  { what: 'forged cursor (SQL)', method: 'GET', url: `/v1/routes?cursor=${Buffer.from(JSON.stringify(["a'; DROP TABLE outbox;--", 'b', 'c'])).toString('base64url')}`, status: 400, field: 'cursor' },
  { what: 'unknown query parameter', method: 'GET', url: '/v1/routes?tenant=acme&sort=desc', status: 400, field: 'sort' },
  { what: 'bad tenant filter', method: 'GET', url: '/v1/routes?tenant=ACME', status: 400, field: 'tenant' },
  { what: 'malformed If-Match', method: 'PUT', url: ROUTE, body: { url: 'https://x.example' }, headers: { 'if-match': 'version-3' }, status: 400, field: 'If-Match' },
  { what: 'malformed If-None-Match', method: 'PUT', url: ROUTE, body: { url: 'https://x.example' }, headers: { 'if-none-match': 'v3' }, status: 400, field: 'If-None-Match' },
  { what: 'a NUL in a display name', method: 'POST', url: '/v1/tenants', body: { slug: 'newco', displayName: 'a\u0000b' }, status: 400, field: 'displayName' },
  { what: 'a lone surrogate in a key name', method: 'POST', url: '/v1/api-keys', body: { name: 'k\ud800', scopes: ['routes:read'] }, status: 400, field: 'name' },
  put('a lone surrogate in a URL', { url: 'https://x.example/\ud800' }),
  { what: 'tenant slug with capitals', method: 'POST', url: '/v1/tenants', body: { slug: 'NewCo' }, status: 400, field: 'slug' },
  { what: 'tenant display name too long', method: 'POST', url: '/v1/tenants', body: { slug: 'newco', displayName: long(201) }, status: 400, field: 'displayName' },
  { what: 'tenant with unknown field', method: 'POST', url: '/v1/tenants', body: { slug: 'newco', plan: 'gold' }, status: 400, field: 'plan' },
  { what: 'key with an unknown scope', method: 'POST', url: '/v1/api-keys', body: { name: 'k', scopes: ['routes:delete'] }, status: 400, field: 'scopes' },
  { what: 'key with no scopes', method: 'POST', url: '/v1/api-keys', body: { name: 'k', scopes: [] }, status: 400, field: 'scopes' },
  { what: 'key with repeated scopes', method: 'POST', url: '/v1/api-keys', body: { name: 'k', scopes: ['routes:read', 'routes:read'] }, status: 400, field: 'scopes' },
  { what: 'key with an empty name', method: 'POST', url: '/v1/api-keys', body: { name: '', scopes: ['routes:read'] }, status: 400, field: 'name' },
  { what: 'key id that is not a UUID', method: 'DELETE', url: '/v1/api-keys/123', status: 400, field: 'id' },
  { what: 'unknown path', method: 'GET', url: '/v1/nothing-here', status: 404 },
  { what: 'route path with a missing part', method: 'PUT', url: '/v1/routes/acme/billing', body: { url: 'https://x.example' }, status: 404 },
  ...POLICIES,
];

describe('bad input', () => {
  let api: CommandApiUnderTest;
  let before: Record<string, unknown[]>;
  beforeAll(async () => {
    api = await CommandApiUnderTest.start();
    await api.request('PUT', ROUTE, { body: { url: 'https://billing.acme.internal' } });
    before = await snapshot(api.db);
  });
  afterAll(() => api.stop());

  it('has at least 30 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(30);
  });

  it.each(CASES.map((c) => [c.what, c] as const))('%s is answered %#: 4xx problem+json', async (_what, c) => {
    const res = await api.request(c.method, c.url, { body: c.body, raw: c.raw, headers: c.headers });
    expect(res.status).toBe(c.status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = res.json<{ type: string; title: string; status: number; detail: string; errors?: { field: string }[] }>();
    expect(problem).toMatchObject({ status: c.status });
    expect(typeof problem.title).toBe('string');
    expect(typeof problem.detail).toBe('string');
    expect(typeof problem.type).toBe('string');
    if (c.status === 400 && c.field) expect(problem.errors?.map((e) => e.field)).toContain(c.field);
    expect(JSON.stringify(problem)).not.toMatch(/QueryFailedError|\bat .+\(.+:\d+:\d+\)/);
  });

  it('left the database exactly as it was', async () => {
    expect(await snapshot(api.db)).toEqual(before);
  });
});
