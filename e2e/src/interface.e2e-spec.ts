import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALL_APPS, freePort, TEST_ADMIN_TOKEN, TestStack, type AppName, type AppProcess } from '@tm/testing';
import { debianTool, ROOT, run } from './tools';

/**
 * The interface as clients nobody here wrote check it, against the apps as processes: Redocly's
 * linter (its recommended rules) on both OpenAPI documents, Prism's validation proxy in front of
 * both APIs for a representative request of every operation and its documented error answers,
 * and promtool on every deployable's /metrics.
 */

const HTTP_APIS = ['command-api', 'resolver'] as const;
/** RATE_LIMIT_PER_KEY of the stack: a key making more requests than this in one second gets a 429. */
const RATE_LIMIT = 5;
const REDOCLY = join(ROOT, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');
const PRISM = join(ROOT, 'node_modules', '@stoplight', 'prism-cli', 'dist', 'index.js');

describe('the interface, checked by third-party tools', () => {
  let stack: TestStack;
  let dir: string;
  const docs = new Map<string, string>();
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tm-interface-'));
    // Low tenancy limits, so that their 409 and 429 answers are checked too.
    stack = await TestStack.start({ apps: ALL_APPS, env: { LOG_LEVEL: 'warn', TENANT_MAX_PROBED_ENDPOINTS: '3', RATE_LIMIT_PER_KEY: String(RATE_LIMIT) } });
    for (const api of HTTP_APIS) {
      const file = join(dir, `${api}.json`);
      writeFileSync(file, await (await fetch(`${stack.app(api).url}/docs-json`)).text());
      docs.set(api, file);
    }
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(HTTP_APIS)('the %s OpenAPI document passes redocly lint (recommended rules) without an error', (api) => {
    const r = run(process.execPath, [REDOCLY, 'lint', docs.get(api) as string, '--extends=recommended', '--format=stylish'], undefined, dir);
    // Warnings left: the health routes have no 4xx answer, the licence (UNLICENSED) no URL.
    expect([r.ok, r.stdout.split('\n').filter((l) => /\berror\b/.test(l))]).toEqual([true, []]);
  });

  describe('through Prism\'s validation proxy', () => {
    const proxies = new Map<string, { url: string; child: ChildProcess; output: string[] }>();
    beforeAll(async () => {
      for (const api of HTTP_APIS) {
        const port = await freePort();
        const output: string[] = [];
        const child = spawn(process.execPath, [PRISM, 'proxy', docs.get(api) as string, stack.app(api).url, '--errors', '-h', '127.0.0.1', '-p', String(port)], {
          cwd: dir,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        child.stdout?.on('data', (c: Buffer) => output.push(c.toString()));
        child.stderr?.on('data', (c: Buffer) => output.push(c.toString()));
        proxies.set(api, { url: `http://127.0.0.1:${port}`, child, output });
      }
      for (const [api, proxy] of proxies) {
        const deadline = Date.now() + 60_000;
        while (!proxy.output.join('').includes('Prism is listening')) {
          if (Date.now() > deadline || proxy.child.exitCode !== null) throw new Error(`prism proxy for ${api} did not start: ${proxy.output.join('')}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }, 90_000);
    afterAll(() => {
      for (const proxy of proxies.values()) proxy.child.kill();
    });

    interface Exchange {
      status: number;
      headers: Headers;
      body: string;
    }
    const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
    async function call(api: AppName, method: string, path: string, options: { headers?: Record<string, string>; body?: unknown } = {}): Promise<Exchange> {
      const proxy = proxies.get(api);
      if (!proxy) throw new Error(`no proxy for ${api}`);
      const headers: Record<string, string> = { ...admin, ...options.headers };
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${proxy.url}${path}`, { method, headers, ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}) });
      return { status: res.status, headers: res.headers, body: await res.text() };
    }
    /** The answer has the expected status and Prism found nothing wrong with the request or the answer. */
    function expectClean(what: string, exchange: Exchange, status: number): void {
      const violation = /stoplight\.io\/prism/.test(exchange.body) || exchange.headers.has('sl-violations');
      expect([what, exchange.status, violation ? exchange.body : '']).toEqual([what, status, '']);
    }
    const route = '/v1/routes/prism-acme/billing/prod';

    /** Requests of `key` until one is refused (at most RATE_LIMIT of them fit in a second); that answer. */
    async function rateLimited(api: AppName, path: string, key: string): Promise<Exchange> {
      for (let i = 0; i < 20 * RATE_LIMIT; i++) {
        const res = await call(api, 'GET', path, { headers: { authorization: `Bearer ${key}` } });
        if (res.status !== 200) return res;
      }
      throw new Error(`${api} never refused ${path} after ${20 * RATE_LIMIT} requests`);
    }

    it('finds no violation in the command API, for valid requests and the documented errors', async () => {
      const c = (method: string, path: string, options?: Parameters<typeof call>[3]) => call('command-api', method, path, options);
      expectClean('PUT creates', await c('PUT', route, { body: { url: 'https://billing.example' } }), 201);
      expectClean('PUT updates', await c('PUT', route, { body: { url: 'https://billing-2.example' } }), 200);
      expectClean('PUT other', await c('PUT', '/v1/routes/prism-acme/billing/staging', { body: { url: 'https://s.example' } }), 201);
      expectClean('PUT third', await c('PUT', '/v1/routes/prism-acme/api/prod', { body: { url: 'https://a.example' } }), 201);
      const got = await c('GET', route);
      expectClean('GET', got, 200);
      const revision = (JSON.parse(got.body) as { revision: number }).revision;
      const page = await c('GET', '/v1/routes?limit=2');
      expectClean('list with a limit', page, 200);
      const cursor = (JSON.parse(page.body) as { nextCursor: string | null }).nextCursor;
      expect(cursor).not.toBeNull();
      expectClean('list with a cursor', await c('GET', `/v1/routes?limit=2&cursor=${encodeURIComponent(String(cursor))}`), 200);
      expectClean('list filtered', await c('GET', '/v1/routes?tenant=prism-acme&service=billing'), 200);
      expectClean('PUT If-Match stale', await c('PUT', route, { body: { url: 'https://x.example' }, headers: { 'if-match': `"${revision + 100}"` } }), 412);
      expectClean('PUT If-None-Match *', await c('PUT', route, { body: { url: 'https://x.example' }, headers: { 'if-none-match': '*' } }), 412);
      expectClean('PUT If-Match current', await c('PUT', route, { body: { url: 'https://x.example' }, headers: { 'if-match': `"${revision}"` } }), 200);
      expectClean('PUT bad name', await c('PUT', '/v1/routes/Prism/billing/prod', { body: { url: 'https://x.example' } }), 400);
      expectClean('PUT bad URL', await c('PUT', route, { body: { url: 'ftp://x.example' } }), 400);
      expectClean('DELETE If-Match stale', await c('DELETE', '/v1/routes/prism-acme/api/prod', { headers: { 'if-match': '"1"' } }), 412);
      expectClean('DELETE', await c('DELETE', '/v1/routes/prism-acme/api/prod'), 204);
      expectClean('GET deleted', await c('GET', '/v1/routes/prism-acme/api/prod'), 404);
      expectClean('DELETE deleted', await c('DELETE', '/v1/routes/prism-acme/api/prod'), 404);

      const probed = (n: number) => ({
        endpoints: Array.from({ length: n }, (_, i) => ({ id: `e${i}`, url: `https://e${i}.example` })),
        healthCheck: { path: '/healthz', intervalSeconds: 5 },
      });
      expectClean('PUT beyond the probe quota', await c('PUT', '/v1/routes/prism-probes/web/prod', { body: probed(4) }), 409);

      expectClean('POST tenant', await c('POST', '/v1/tenants', { body: { slug: 'prism-newco', displayName: 'New Co' } }), 201);
      expectClean('POST tenant again', await c('POST', '/v1/tenants', { body: { slug: 'prism-newco' } }), 409);
      expectClean('POST tenant bad', await c('POST', '/v1/tenants', { body: { slug: 'Prism' } }), 400);
      expectClean('GET tenants', await c('GET', '/v1/tenants'), 200);
      expectClean('GET tenant', await c('GET', '/v1/tenants/prism-newco'), 200);
      expectClean('GET no tenant', await c('GET', '/v1/tenants/prism-none'), 404);
      expectClean('PATCH tenant', await c('PATCH', '/v1/tenants/prism-newco', { body: { dns: true } }), 200);
      expectClean('PATCH tenant clearing its name', await c('PATCH', '/v1/tenants/prism-newco', { body: { displayName: null } }), 200);
      expectClean('PATCH tenant changing nothing', await c('PATCH', '/v1/tenants/prism-newco', { body: {} }), 400);
      expectClean('PATCH no tenant', await c('PATCH', '/v1/tenants/prism-none', { body: { dns: true } }), 404);
      expectClean('DELETE tenant', await c('DELETE', '/v1/tenants/prism-newco'), 204);
      expectClean('DELETE no tenant', await c('DELETE', '/v1/tenants/prism-newco'), 404);

      const created = await c('POST', '/v1/api-keys', { body: { name: 'prism-reader', tenant: 'prism-acme', scopes: ['routes:read'] } });
      expectClean('POST key', created, 201);
      const { id, key } = JSON.parse(created.body) as { id: string; key: string };
      expectClean('POST key for no tenant', await c('POST', '/v1/api-keys', { body: { name: 'k', tenant: 'prism-none', scopes: ['routes:read'] } }), 404);
      expectClean('GET keys', await c('GET', '/v1/api-keys'), 200);
      expectClean('key without the scope', await c('PUT', route, { body: { url: 'https://x.example' }, headers: { authorization: `Bearer ${key}` } }), 403);
      expectClean('key of another tenant', await c('GET', '/v1/routes/prism-other/billing/prod', { headers: { authorization: `Bearer ${key}` } }), 403);
      expectClean('unknown key', await c('GET', route, { headers: { authorization: 'Bearer tm_unknown_0123456789' } }), 401);
      expectClean('key over its rate limit', await rateLimited('command-api', route, key), 429);
      expectClean('DELETE key', await c('DELETE', `/v1/api-keys/${id}`), 204);
      expectClean('DELETE no key', await c('DELETE', '/v1/api-keys/00000000-0000-4000-8000-000000000000'), 404);

      expectClean('live', await c('GET', '/health/live', { headers: { authorization: '' } }), 200);
      expectClean('ready', await c('GET', '/health/ready', { headers: { authorization: '' } }), 200);
    }, 60_000);

    it('finds no violation in the resolver, for valid requests and the documented errors', async () => {
      const put = await call('command-api', 'PUT', '/v1/routes/prism-acme/resolve/prod', { body: { url: 'https://r.example' } });
      const revision = (JSON.parse(put.body) as { revision: number }).revision;
      const key = JSON.parse((await call('command-api', 'POST', '/v1/api-keys', { body: { name: 'prism-resolve', tenant: 'prism-acme', scopes: ['routes:read'] } })).body) as { key: string };
      const r = (path: string, headers?: Record<string, string>) => call('resolver', 'GET', path, { headers });
      const path = '/v1/resolve/prism-acme/resolve/prod';
      expectClean('resolve', await r(path), 200);
      expectClean('resolve again (cached)', await r(path), 200);
      expectClean('resolve with a tenant key', await r(path, { authorization: `Bearer ${key.key}` }), 200);
      expectClean('X-Min-Revision', await r(path, { 'x-min-revision': String(revision) }), 200);
      expectClean('minRevision', await r(`${path}?minRevision=${revision}`), 200);
      expectClean('consistency=strong', await r(`${path}?consistency=strong`), 200);
      expectClean('minimum revision ahead', await r(path, { 'x-min-revision': String(revision + 1_000_000) }), 412);
      expectClean('no such route', await r('/v1/resolve/prism-acme/resolve/nowhere'), 404);
      expectClean('bad name', await r('/v1/resolve/Prism/resolve/prod'), 400);
      expectClean('unknown key', await r(path, { authorization: 'Bearer tm_unknown_0123456789' }), 401);
      expectClean('another tenant', await r('/v1/resolve/prism-other/resolve/prod', { authorization: `Bearer ${key.key}` }), 403);
      expectClean('key over its rate limit', await rateLimited('resolver', path, key.key), 429);
      // A policy: several endpoints, a health check, an affinity pick, each endpoint's health.
      const policy = {
        endpoints: [
          { id: 'blue', url: 'https://blue.r.example', weight: 3 },
          { id: 'green', url: 'https://green.r.example', priority: 2, state: 'draining' },
        ],
        healthCheck: { path: '/healthz', intervalSeconds: 5 },
      };
      expectClean('PUT policy', await call('command-api', 'PUT', '/v1/routes/prism-acme/policy/prod', { body: policy }), 201);
      expectClean('resolve a policy', await r('/v1/resolve/prism-acme/policy/prod?affinity=user-7'), 200);
      expectClean('route health', await r('/v1/routes/prism-acme/policy/prod/health'), 200);
      expectClean('route health of a single URL', await r('/v1/routes/prism-acme/resolve/prod/health'), 200);
      expectClean('route health of no route', await r('/v1/routes/prism-acme/policy/nowhere/health'), 404);
      expectClean('PUT all disabled', await call('command-api', 'PUT', '/v1/routes/prism-acme/off/prod', { body: { endpoints: [{ id: 'x', url: 'https://x.example', state: 'disabled' }] } }), 201);
      expectClean('no enabled endpoint', await r('/v1/resolve/prism-acme/off/prod'), 404);
      expectClean('live', await r('/health/live', { authorization: '' }), 200);
      expectClean('ready', await r('/health/ready', { authorization: '' }), 200);
    }, 60_000);
  });

  it.each([...ALL_APPS, 'health-prober' as const])('the %s /metrics passes promtool check metrics', async (app) => {
    debianTool('promtool', 'prometheus');
    const target = app === 'health-prober' ? ((await stack.startProbers(1))[0] as AppProcess) : stack.app(app);
    if (app === 'health-prober') {
      // A probe or two first, so that its counters and histograms have samples.
      await fetch(`${stack.app('command-api').url}/v1/routes/prom-acme/probed/prod`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ url: target.url, healthCheck: { path: '/health/live', intervalSeconds: 1 } }),
      });
      const deadline = Date.now() + 20_000;
      while (!/^tm_prober_probes_total\{/m.test(await (await fetch(`${target.url}/metrics`)).text()) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 200));
    }
    const text = await (await fetch(`${target.url}/metrics`)).text();
    const r = run('promtool', ['check', 'metrics'], text);
    expect([r.ok, `${r.stdout}${r.stderr}`.trim()]).toEqual([true, '']);
    // The per-type gauges stay; their totals are a sum() away.
    expect(text).toMatch(/^tm_nodejs_active_handles\{/m);
    expect(text).not.toMatch(/^tm_nodejs_active_\w+_total/m);
  });
});
