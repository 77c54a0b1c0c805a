import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { CommandApiUnderTest } from '../command-api.test-support';

const INDEX = '<!doctype html><html><head><script type="module" src="/console/assets/index-abc123.js"></script></head><body><div id="root"></div></body></html>';
const SCRIPT = 'console.log("console");';

/** A built console as nx build console writes it: index.html, assets/, a public file. */
function consoleFixture(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tm-console-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), INDEX);
  writeFileSync(join(dir, 'assets', 'index-abc123.js'), SCRIPT);
  writeFileSync(join(dir, 'assets', 'index-abc123.js.gz'), gzipSync(SCRIPT));
  writeFileSync(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  return dir;
}

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self' http://127.0.0.1:3001; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

function expectSecurityHeaders(headers: Record<string, unknown>, csp = CSP): void {
  expect(headers['content-security-policy']).toBe(csp);
  expect(headers['content-security-policy']).not.toMatch(/unsafe-(inline|eval)/);
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['referrer-policy']).toBe('no-referrer');
  expect(headers['x-frame-options']).toBe('DENY');
}

describe('the console under /console/', () => {
  let api: CommandApiUnderTest;
  let dir: string;
  beforeAll(async () => {
    dir = consoleFixture();
    api = await CommandApiUnderTest.start({ env: { CONSOLE_DIR: dir, CONSOLE_RESOLVER_URL: 'http://127.0.0.1:3001/' } });
  });
  afterAll(async () => {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('redirects /console to /console/ (308)', async () => {
    const res = await api.request('GET', '/console', { token: null });
    expect(res.status).toBe(308);
    expect(res.headers['location']).toBe('/console/');
    expectSecurityHeaders(res.headers);
  });

  it('serves index.html at /console/, without a key, not cached, with the security headers', async () => {
    const res = await api.request('GET', '/console/', { token: null });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.body).toBe(INDEX);
    expect(res.headers['x-request-id']).toBeDefined();
    expectSecurityHeaders(res.headers);
  });

  it.each(['/console/routes/acme/billing/prod', '/console/keys', '/console/index.html'])('answers %s, a page of the app, with index.html', async (path) => {
    const res = await api.request('GET', path, { token: null });
    expect(res.status).toBe(200);
    expect(res.body).toBe(INDEX);
    expect(res.headers['cache-control']).toBe('no-cache');
    expectSecurityHeaders(res.headers);
  });

  it('serves a hashed asset for a year, immutable', async () => {
    const res = await api.request('GET', '/console/assets/index-abc123.js', { token: null });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/javascript/);
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(res.body).toBe(SCRIPT);
    expectSecurityHeaders(res.headers);
  });

  it('serves the build’s compressed form to a browser that accepts it', async () => {
    const res = await api.request('GET', '/console/assets/index-abc123.js', { token: null, headers: { 'accept-encoding': 'gzip, deflate' } });
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers['content-type']).toMatch(/javascript/);
    expect(String(res.headers['vary'])).toMatch(/accept-encoding/i);
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expectSecurityHeaders(res.headers);
  });

  it('serves the other files of the bundle as they are, not cached', async () => {
    const res = await api.request('GET', '/console/favicon.svg', { token: null });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^image\/svg\+xml/);
    expect(res.headers['cache-control']).toBe('no-cache');
  });

  it('answers a missing asset with a 404 problem, not the page', async () => {
    const res = await api.request('GET', '/console/assets/index-gone.js', { token: null });
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 404, requestId: res.headers['x-request-id'] });
    expectSecurityHeaders(res.headers);
  });

  it('tells the bundle where the resolver is at /console/config.json', async () => {
    const res = await api.request('GET', '/console/config.json', { token: null });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.json()).toEqual({ resolverUrl: 'http://127.0.0.1:3001', commandApiUrl: null });
    expectSecurityHeaders(res.headers);
  });

  it('ignores a key, valid or not: the bundle is public', async () => {
    expect((await api.request('GET', '/console/', { token: 'not-a-key' })).status).toBe(200);
    expect((await api.request('GET', '/console/')).status).toBe(200);
  });

  it('answers HEAD as GET without a body', async () => {
    const res = await api.app.inject({ method: 'HEAD', url: '/console/assets/index-abc123.js' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('');
  });

  it('keeps the API as it was: its key is still required, and the OpenAPI document does not list the console', async () => {
    expect((await api.request('GET', '/v1/routes', { token: null })).status).toBe(401);
    const doc = (await api.request('GET', '/docs-json', { token: null })).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(doc.paths).filter((p) => p.includes('console'))).toEqual([]);
    expect(Object.keys(doc.paths).length).toBeGreaterThan(10);
  });

  it('counts console requests in the HTTP metrics', async () => {
    await api.request('GET', '/console/routes/acme', { token: null });
    const metrics = await api.request('GET', '/metrics', { token: null });
    expect(String(metrics.body)).toMatch(/tm_http_requests_total\{method="GET",route="\/console\/\*",status="200",app="command-api"\} \d+/);
  });
});

describe('the console when it is not built', () => {
  let api: CommandApiUnderTest;
  beforeAll(async () => {
    // Tests run from source: no console folder beside the code, and CONSOLE_DIR unset.
    api = await CommandApiUnderTest.start();
  });
  afterAll(() => api.stop());

  it.each(['/console/', '/console/routes/acme', '/console/assets/index.js'])('answers %s with a 404 problem saying so', async (path) => {
    const res = await api.request('GET', path, { token: null });
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 404, detail: expect.stringMatching(/console is not built/) });
    expectSecurityHeaders(res.headers, CSP.replace(" http://127.0.0.1:3001", ''));
  });

  it('still redirects /console', async () => {
    expect((await api.request('GET', '/console', { token: null })).status).toBe(308);
  });
});
