import { WatchClient as BrowserWatchClient } from '@tm/watch';
import { inject } from 'light-my-request';
import { frontDoorOf } from '@tm/platform';
import { ResolveService } from './resolve/resolve.service';
import { ResolverUnderTest } from './resolver.test-support';
import { listening, WatchClient } from './watch/watch.test-support';

const CONSOLE = 'http://localhost:3000';
const ELSEWHERE = 'https://evil.example.com';
const EXPOSED = [
  'x-request-id',
  'x-route-revision',
  'x-consistency-revision',
  'x-cache',
  'x-watch-bookmark-interval-ms',
  'etag',
  'age',
  'location',
  'retry-after',
  'www-authenticate',
];

function expectCors(headers: Record<string, unknown>, origin = CONSOLE): void {
  expect(headers['access-control-allow-origin']).toBe(origin);
  expect(String(headers['vary'])).toMatch(/\bOrigin\b/i);
  expect(String(headers['access-control-expose-headers']).toLowerCase().split(/,\s*/)).toEqual(expect.arrayContaining(EXPOSED));
  expect(headers['access-control-allow-credentials']).toBeUndefined();
}

function expectNoCors(headers: Record<string, unknown>): void {
  expect(Object.keys(headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
}

/** CORS_ALLOWED_ORIGINS on the resolver: the console's origin reads answers, errors and the watch; no other origin does. */
describe('the resolver across origins', () => {
  let r: ResolverUnderTest;
  let base: string;
  let controllerCalls: jest.SpyInstance;
  beforeAll(async () => {
    r = await ResolverUnderTest.start({ env: { CORS_ALLOWED_ORIGINS: `http://127.0.0.1:3000,${CONSOLE}`, RATE_LIMIT_PER_KEY: '3' }, rateLimitClock: () => 1_000_000 });
    const { data } = await r.write('cors/web/prod', 'https://web.cors.internal/');
    await r.feedHas(data.revision);
    await r.resolve('cors/web/prod'); // the miss that fills memory: the next answers may take the fast path
    base = await listening(r.app);
    controllerCalls = jest.spyOn(r.app.get(ResolveService), 'resolve');
  });
  afterAll(() => r.stop());
  beforeEach(() => controllerCalls.mockClear());

  it('answers a resolve from an allowed origin with its CORS headers, through Fastify rather than the fast path', async () => {
    const res = await r.resolve('cors/web/prod', { headers: { origin: CONSOLE } });
    expect(res.status).toBe(200);
    expectCors(res.headers);
    expect(res.headers['x-route-revision']).toEqual(expect.any(String));
    expect(controllerCalls).toHaveBeenCalledTimes(1);
  });

  it('keeps the fast path for a request without Origin, and adds no CORS header', async () => {
    const res = await r.resolve('cors/web/prod');
    expect(res.status).toBe(200);
    expect(res.headers['x-cache']).toBe('HIT');
    expect(controllerCalls).not.toHaveBeenCalled();
    expectNoCors(res.headers);
  });

  it('gives an origin that is not listed no CORS header (the browser blocks it)', async () => {
    for (const origin of [ELSEWHERE, 'null', 'http://localhost:3001']) {
      const res = await r.resolve('cors/web/prod', { headers: { origin } });
      expect(res.status).toBe(200);
      expectNoCors(res.headers);
    }
  });

  it('answers a preflight from an allowed origin: 204, the methods, the request headers, for 10 minutes', async () => {
    const door = frontDoorOf(r.app.getHttpAdapter().getInstance());
    if (!door) throw new Error('no front door');
    const res = await inject(door.listener, {
      method: 'OPTIONS',
      url: '/v1/resolve/cors/web/prod',
      headers: { origin: CONSOLE, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization,x-min-revision' },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(CONSOLE);
    expect(String(res.headers['access-control-allow-methods']).split(/,\s*/)).toEqual(['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE']);
    expect(String(res.headers['access-control-allow-headers']).toLowerCase().split(/,\s*/)).toEqual(
      expect.arrayContaining(['authorization', 'content-type', 'if-match', 'if-none-match', 'last-event-id', 'cache-control', 'x-request-id', 'x-min-revision']),
    );
    expect(res.headers['access-control-max-age']).toBe('600');
  });

  it('allows every request header the watch client (@tm/watch, which the console uses) sends', async () => {
    // The headers WatchClient sends on a resume (the most it sends), caught by a fetch that answers nothing.
    let sent: Record<string, string> = {};
    const client = new BrowserWatchClient(
      {
        url: 'http://resolver.invalid/v1/watch/cors',
        apiKey: 'k',
        fetch: (_url, init) => {
          sent = init.headers;
          client.close();
          return new Promise(() => undefined);
        },
      },
      {},
    );
    (client as unknown as { resumeFrom: number; snapshotDone: boolean }).resumeFrom = 7;
    (client as unknown as { resumeFrom: number; snapshotDone: boolean }).snapshotDone = true;
    client.start();
    // Accept is CORS-safelisted; every other header needs the preflight's permission.
    const needed = Object.keys(sent).filter((h) => h.toLowerCase() !== 'accept');
    expect(needed.map((h) => h.toLowerCase()).sort()).toEqual(['authorization', 'cache-control', 'last-event-id']);
    const door = frontDoorOf(r.app.getHttpAdapter().getInstance());
    if (!door) throw new Error('no front door');
    const res = await inject(door.listener, {
      method: 'OPTIONS',
      url: '/v1/watch/cors',
      headers: { origin: CONSOLE, 'access-control-request-method': 'GET', 'access-control-request-headers': needed.join(',') },
    });
    expect(res.statusCode).toBe(204);
    const allowed = String(res.headers['access-control-allow-headers']).toLowerCase().split(/,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(needed.map((h) => h.toLowerCase())));
  });

  it('refuses a preflight from an origin that is not listed (404, no CORS header)', async () => {
    const res = await r.app.inject({
      method: 'OPTIONS',
      url: '/v1/resolve/cors/web/prod',
      headers: { origin: ELSEWHERE, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(res.statusCode).toBe(404);
    expectNoCors(res.headers);
  });

  it('lets the allowed origin read an error: 401 with WWW-Authenticate, 429 with Retry-After, a problem body', async () => {
    const missing = await r.app.inject({ method: 'GET', url: '/v1/resolve/cors/web/prod', headers: { origin: CONSOLE } });
    expect(missing.statusCode).toBe(401);
    expect(missing.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(missing.headers['content-type']).toMatch(/problem\+json/);
    expectCors(missing.headers);
    const key = await r.createKey(['routes:read'], 'cors');
    let last = await r.resolve('cors/web/prod', { token: key, headers: { origin: CONSOLE } });
    for (let i = 0; i < 4 && last.status === 200; i++) last = await r.resolve('cors/web/prod', { token: key, headers: { origin: CONSOLE } });
    expect(last.status).toBe(429);
    expect(last.headers['retry-after']).toMatch(/^\d+$/);
    expectCors(last.headers);
  });

  it('gives the watch stream its CORS headers (a cross-origin fetch reads it)', async () => {
    const watch = await WatchClient.open(base, '/v1/watch/cors', { headers: { origin: CONSOLE } });
    try {
      expect(watch.status).toBe(200);
      expect(watch.headers['content-type']).toMatch(/^text\/event-stream/);
      expectCors(watch.headers as Record<string, unknown>);
      await watch.until((frames) => frames.some((f) => f.event === 'bookmark'));
    } finally {
      watch.close();
    }
    const elsewhere = await WatchClient.open(base, '/v1/watch/cors', { headers: { origin: ELSEWHERE } });
    try {
      expect(elsewhere.status).toBe(200);
      expectNoCors(elsewhere.headers as Record<string, unknown>);
    } finally {
      elsewhere.close();
    }
  });

  it("gives a watch's refusal its CORS headers too", async () => {
    const refused = await WatchClient.open(base, '/v1/watch/cors', { token: 'not-a-key', headers: { origin: CONSOLE } });
    expect(refused.status).toBe(401);
    expectCors(refused.headers as Record<string, unknown>);
  });
});

describe('the resolver without CORS_ALLOWED_ORIGINS', () => {
  let r: ResolverUnderTest;
  let controllerCalls: jest.SpyInstance;
  beforeAll(async () => {
    r = await ResolverUnderTest.start();
    const { data } = await r.write('nocors/web/prod', 'https://web.nocors.internal/');
    await r.feedHas(data.revision);
    await r.resolve('nocors/web/prod');
    controllerCalls = jest.spyOn(r.app.get(ResolveService), 'resolve');
  });
  afterAll(() => r.stop());

  it('adds no CORS header, and a request with Origin still takes the fast path', async () => {
    const res = await r.resolve('nocors/web/prod', { headers: { origin: CONSOLE } });
    expect(res.status).toBe(200);
    expect(res.headers['x-cache']).toBe('HIT');
    expect(controllerCalls).not.toHaveBeenCalled();
    expectNoCors(res.headers);
    expect(res.headers['vary']).toBeUndefined();
  });

  it('has no preflight route', async () => {
    const res = await r.app.inject({ method: 'OPTIONS', url: '/v1/resolve/nocors/web/prod', headers: { origin: CONSOLE, 'access-control-request-method': 'GET' } });
    expect(res.statusCode).toBe(404);
    expectNoCors(res.headers);
  });
});
