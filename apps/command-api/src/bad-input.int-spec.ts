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
  { what: 'body over 16 KiB', method: 'PUT', url: ROUTE, raw: JSON.stringify({ url: `https://x.example/${long(17_000)}` }), headers: { 'content-type': 'application/json' }, status: 413 },
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
