import { TrafficManagerClient } from './client';
import { TrafficManagerError } from './errors';
import { FakeServer, notFound, openStream, problem, resolved, sleep, until, type SseWriter } from './fake-server.test-support';
import type { TrafficManagerClientOptions } from './options';
import type { ResolvedEndpoint } from './session';
import type { WatchState } from './watch';

let server: FakeServer;
const clients: TrafficManagerClient[] = [];

beforeAll(async () => {
  // Node loads fetch (undici) on its first use, which on a loaded machine can take longer than a
  // test's short deadline: load it once here.
  await fetch('http://127.0.0.1:9').catch(() => undefined);
});

beforeEach(async () => {
  server = await FakeServer.start();
});

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await server.close();
});

function client(options: Partial<TrafficManagerClientOptions> = {}): TrafficManagerClient {
  // A long wait for the watch by default, so that a loaded machine still gets its snapshot in time.
  const c = new TrafficManagerClient({ resolverUrl: server.url, commandUrl: server.url, apiKey: 'k1', watchWaitMs: 2000, ...options });
  clients.push(c);
  return c;
}

async function rejection(promise: Promise<unknown>): Promise<TrafficManagerError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof TrafficManagerError) return e;
    throw e;
  }
  throw new Error('the promise did not reject');
}

/** A watch of `acme` whose streams the test writes to, in order of connection. */
function watchAcme(onOpen?: (stream: SseWriter, n: number) => void, intervalMs?: number): SseWriter[] {
  const streams: SseWriter[] = [];
  server.on('/v1/watch/acme', (_req, res) => {
    const stream = openStream(res, intervalMs);
    streams.push(stream);
    onOpen?.(stream, streams.length);
  });
  return streams;
}

/** The one endpoint of a single-URL route, as answers list it. */
function only(url: string): ResolvedEndpoint {
  return { id: 'default', url, priority: 1, weight: 1, state: 'enabled', health: 'unknown' };
}

function states(tm: TrafficManagerClient): WatchState[] {
  const seen: WatchState[] = [];
  tm.on('watch-state', ({ state }) => seen.push(state));
  return seen;
}

describe('answers from memory', () => {
  it('the snapshot fills the view: a synced, fresh view answers from memory, and a missing route is null', async () => {
    watchAcme((s) => s.snapshot({ 'acme/api/prod': ['https://api.example', 3], 'acme/web/prod': ['https://web.example', 5] }, 5, 20));
    const tm = client();
    const first = await tm.resolve('acme/api/prod');
    expect(first).toMatchObject({ url: 'https://api.example', revision: 3, asOf: 5, source: 'memory' });
    expect(first?.ageMs).toBeGreaterThanOrEqual(20);
    expect(await tm.resolve({ tenant: 'acme', service: 'web', environment: 'prod' })).toMatchObject({ url: 'https://web.example', source: 'memory' });
    expect(await tm.resolve('acme/nope/prod')).toBeNull();
    expect(tm.resolveCached('acme/api/prod')).toMatchObject({ url: 'https://api.example', source: 'memory' });
    expect(tm.resolveCached('acme/nope/prod')).toBeNull();
    expect(server.requests('/v1/resolve')).toHaveLength(0);
    const watch = server.requests('/v1/watch/acme')[0];
    expect(watch?.headers['authorization']).toBe('Bearer k1');
    expect(watch?.headers['last-event-id']).toBeUndefined();
    expect(tm.stats()).toMatchObject({ memoryHits: 5, resolverCalls: 0, watches: [{ tenant: 'acme', state: 'synced', revision: 5, routes: 2 }] });
  });

  it('put and delete events with ids update the view; bookmarks advance its as-of revision', async () => {
    const streams = watchAcme((s) => s.snapshot({ 'acme/api/prod': ['https://a.example', 3] }, 5));
    const tm = client();
    expect(await tm.resolve('acme/api/prod')).toMatchObject({ url: 'https://a.example', asOf: 5 });
    streams[0]?.put('acme/api/prod', 'https://b.example', 6, 6).put('acme/new/prod', 'https://n.example', 7, 7).bookmark(7);
    await until(() => tm.resolveCached('acme/api/prod', 7)?.url === 'https://b.example', 3000, 'the put');
    expect(tm.resolveCached('acme/new/prod')).toMatchObject({ url: 'https://n.example', revision: 7, asOf: 7 });
    streams[0]?.delete('acme/api/prod', 8).bookmark(8);
    await until(() => tm.resolveCached('acme/api/prod', 8) === null, 3000, 'the delete');
  });

  it('a change applied before its bookmark raises the view\'s as-of: an answer is never older than its route (G2)', async () => {
    const streams = watchAcme((s) => s.snapshot({ 'acme/api/prod': ['https://a.example', 3] }, 5));
    const tm = client();
    expect(await tm.resolve('acme/api/prod')).toMatchObject({ revision: 3, asOf: 5 });
    // The change at 7 arrives; its bookmark has not (yet).
    streams[0]?.put('acme/api/prod', 'https://b.example', 7, 7);
    await until(() => tm.resolveCached('acme/api/prod')?.url === 'https://b.example', 3000, 'the put');
    expect(tm.resolveCached('acme/api/prod')).toMatchObject({ url: 'https://b.example', revision: 7, asOf: 7, source: 'memory' });
    // A session at 7 is answered from memory without waiting for a bookmark.
    expect(await tm.session().resolve('acme/api/prod', { minRevision: 7 })).toMatchObject({ source: 'memory', asOf: 7 });
    expect(server.requests('/v1/resolve')).toHaveLength(0);
  });

  it('is not answered from memory past maxStalenessMs: the bookmark ageMs plus the time since it arrived', async () => {
    watchAcme((s) => s.snapshot({ 'acme/api/prod': ['https://a.example', 3] }, 5, 700));
    server.on('/v1/resolve/', (_req, res) => resolved(res, 'acme/api/prod', 'https://a.example', 3, 9));
    const tm = client({ maxStalenessMs: 1000 });
    const first = await tm.resolve('acme/api/prod');
    expect(first).toMatchObject({ source: 'memory' });
    expect(first?.ageMs).toBeGreaterThanOrEqual(700);
    expect(first?.ageMs).toBeLessThan(1000);
    await sleep(400);
    expect(tm.resolveCached('acme/api/prod')).toBeUndefined();
    expect(await tm.resolve('acme/api/prod', { timeoutMs: 1000 })).toMatchObject({ source: 'resolver', asOf: 9 });
    expect(server.requests('/v1/resolve')).toHaveLength(1);
  });

  it('a minimum revision above the view waits briefly for the bookmark that reaches it', async () => {
    const streams = watchAcme((s) => s.snapshot({ 'acme/api/prod': ['https://a.example', 3] }, 5));
    const tm = client();
    await tm.resolve('acme/api/prod');
    expect(tm.resolveCached('acme/api/prod', 7)).toBeUndefined();
    setTimeout(() => streams[0]?.bookmark(7), 50);
    expect(await tm.resolve('acme/api/prod', { minRevision: 7 })).toMatchObject({ source: 'memory', asOf: 7 });
    expect(server.requests('/v1/resolve')).toHaveLength(0);
  });
});

describe('the resolver', () => {
  it('is asked with X-Min-Revision when the view is behind the minimum; asOf, revision and age come from its headers', async () => {
    watchAcme((s) => s.snapshot({ 'acme/api/prod': ['https://a.example', 3] }, 5));
    server.on('/v1/resolve/', (_req, res) => resolved(res, 'acme/api/prod', 'https://b.example', 11, 12, 4));
    const tm = client();
    expect(await tm.resolve('acme/api/prod')).toMatchObject({ source: 'memory' });
    const answer = await tm.resolve('acme/api/prod', { minRevision: 12, timeoutMs: 1000 });
    // An answer without endpoints (a resolver older than traffic policies) is its URL alone.
    expect(answer).toEqual({ url: 'https://b.example', failOpen: false, endpoints: [only('https://b.example')], revision: 11, asOf: 12, source: 'resolver', ageMs: 4000 });
    const [call] = server.requests('/v1/resolve/');
    expect(call?.url).toBe('/v1/resolve/acme/api/prod');
    expect(call?.headers['x-min-revision']).toBe('12');
    expect(call?.headers['authorization']).toBe('Bearer k1');
  });

  it('a 404 is null; consistency strong always asks with ?consistency=strong', async () => {
    watchAcme((s) => s.snapshot({ 'acme/api/prod': ['https://a.example', 3] }, 5));
    server.on('/v1/resolve/acme/gone', (_req, res) => notFound(res, 'acme/gone/prod', 9));
    server.on('/v1/resolve/acme/api', (_req, res) => resolved(res, 'acme/api/prod', 'https://a.example', 3, 9));
    const tm = client({ watch: false });
    expect(await tm.resolve('acme/gone/prod')).toBeNull();
    expect(await tm.resolve('acme/api/prod', { consistency: 'strong' })).toMatchObject({ source: 'resolver', asOf: 9, ageMs: 0 });
    expect(server.requests('/v1/resolve/acme/api')[0]?.url).toBe('/v1/resolve/acme/api/prod?consistency=strong');
    expect(server.requests('/v1/watch')).toHaveLength(0);
  });

  it('maps error answers to stable codes with the status and the problem', async () => {
    server.on('/v1/resolve/acme/a', (_req, res) => problem(res, 401, 'Unauthorized', 'missing or unknown key', {}, { 'www-authenticate': 'Bearer' }));
    server.on('/v1/resolve/acme/b', (_req, res) => problem(res, 403, 'Forbidden', 'no routes:read on acme'));
    server.on('/v1/resolve/acme/c', (_req, res) => problem(res, 412, 'Precondition Failed', 'revision 99 is beyond the store (12)'));
    server.on('/v1/resolve/acme/d', (_req, res) => problem(res, 400, 'Bad Request', 'bad', { errors: [{ field: 'X-Min-Revision', message: 'x' }] }));
    server.on('/v1/resolve/acme/e', (_req, res) => problem(res, 500, 'Internal Server Error', 'boom'));
    const tm = client({ watch: false });
    const codes = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((s) => rejection(tm.resolve(`acme/${s}/prod`))));
    expect(codes.map((e) => [e.code, e.status])).toEqual([
      ['unauthorized', 401],
      ['forbidden', 403],
      ['conflict', 412],
      ['bad_request', 400],
      ['http_error', 500],
    ]);
    expect(codes[2]?.message).toBe('412 Precondition Failed: revision 99 is beyond the store (12)');
    expect(codes[2]?.problem?.detail).toBe('revision 99 is beyond the store (12)');
    expect((await rejection(tm.resolve('Acme/x/y'))).code).toBe('invalid_route');
    // A 404 that is not the resolver's answer (no X-Consistency-Revision: a wrong resolverUrl) is no null.
    expect(await rejection(tm.resolve('other/x/y'))).toMatchObject({ code: 'not_found', status: 404 });
  });

  it('a 503 is retried once after Retry-After when that fits in the deadline, else thrown with retryAfterMs', async () => {
    let calls = 0;
    server.on('/v1/resolve/', (_req, res) => {
      calls++;
      if (calls === 1) problem(res, 503, 'Service Unavailable', 'PostgreSQL is unavailable; retry later', {}, { 'retry-after': '1' });
      else resolved(res, 'acme/api/prod', 'https://a.example', 3, 9);
    });
    const tm = client({ watch: false });
    const started = performance.now();
    expect(await tm.resolve('acme/api/prod', { timeoutMs: 3000 })).toMatchObject({ source: 'resolver' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    calls = 0;
    const error = await rejection(tm.resolve('acme/api/prod', { timeoutMs: 500 }));
    expect(error).toMatchObject({ code: 'unavailable', status: 503, retryAfterMs: 1000 });
    expect(calls).toBe(1);
  });

  it('a 429 (rate_limited) is retried once after Retry-After when that fits in the deadline, else thrown with retryAfterMs', async () => {
    let calls = 0;
    // What the servers send over the limit: Retry-After and the RateLimit fields.
    const limited = (res: Parameters<Parameters<FakeServer['on']>[1]>[1]) =>
      problem(res, 429, 'Too Many Requests', 'this key is over 1000 requests per second', { code: 'rate_limited' }, {
        'retry-after': '1',
        ratelimit: '"default";r=0;t=1',
        'ratelimit-policy': '"default";q=1000;w=1',
      });
    server.on('/v1/resolve/', (_req, res) => {
      calls++;
      if (calls === 1) limited(res);
      else resolved(res, 'acme/api/prod', 'https://a.example', 3, 9);
    });
    const tm = client({ watch: false });
    const started = performance.now();
    expect(await tm.resolve('acme/api/prod', { timeoutMs: 3000 })).toMatchObject({ url: 'https://a.example', source: 'resolver' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    expect(calls).toBe(2);
    // Not within the deadline: thrown at once, with when to try again.
    calls = 0;
    const error = await rejection(tm.resolve('acme/api/prod', { timeoutMs: 500 }));
    expect(error).toMatchObject({ code: 'rate_limited', status: 429, retryAfterMs: 1000, problem: { code: 'rate_limited' } });
    expect(calls).toBe(1);
    // Limited again after the wait: thrown, not retried a second time.
    server.on('/v1/resolve/', (_req, res) => {
      calls++;
      limited(res);
    });
    calls = 0;
    expect(await rejection(tm.resolve('acme/api/prod', { timeoutMs: 3000 }))).toMatchObject({ code: 'rate_limited', retryAfterMs: 1000 });
    expect(calls).toBe(2);
  });

  it("reads the problem's code member, and the type of a server older than it", async () => {
    const noneEnabled = { 'x-consistency-revision': '5' };
    server.on('/v1/resolve/acme/coded', (_req, res) => problem(res, 404, 'Not Found', 'nothing enabled', { code: 'no_enabled_endpoint' }, noneEnabled));
    server.on('/v1/resolve/acme/typed', (_req, res) => {
      res.writeHead(404, { 'content-type': 'application/problem+json', ...noneEnabled });
      res.end(JSON.stringify({ type: 'urn:traffic-manager:problem:no_enabled_endpoint', title: 'Not Found', status: 404, detail: 'nothing enabled' }));
    });
    const tm = client({ watch: false });
    expect(await rejection(tm.resolve('acme/coded/prod'))).toMatchObject({ code: 'no_enabled_endpoint', status: 404 });
    expect(await rejection(tm.resolve('acme/typed/prod'))).toMatchObject({ code: 'no_enabled_endpoint', status: 404 });
  });

  it('per-call timeouts and AbortSignal end a call that gets no answer', async () => {
    server.on('/v1/resolve/', () => undefined);
    const tm = client({ watch: false, timeoutMs: 5000 });
    expect((await rejection(tm.resolve('acme/api/prod', { timeoutMs: 100 }))).code).toBe('timeout');
    expect((await rejection(tm.resolve('acme/api/prod', { signal: AbortSignal.abort() }))).code).toBe('aborted');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    expect((await rejection(tm.resolve('acme/api/prod', { signal: controller.signal }))).code).toBe('aborted');
    expect((await rejection(client({ watch: false, timeoutMs: 100 }).resolve('acme/api/prod'))).code).toBe('timeout');
  });

  it('network failures are code network; after close every call is code closed', async () => {
    const tm = client({ watch: false, resolverUrl: 'http://127.0.0.1:9' });
    expect((await rejection(tm.resolve('acme/api/prod'))).code).toBe('network');
    await tm.close();
    expect((await rejection(tm.resolve('acme/api/prod'))).code).toBe('closed');
  });
});

describe('staleIfErrorMs', () => {
  it("passes on the resolver's own STALE answer (its database is down) marked stale, whatever staleIfErrorMs says", async () => {
    server.on('/v1/resolve/', (_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'x-route-revision': '3',
        'x-consistency-revision': '9',
        'x-cache': 'STALE',
        age: '120',
        'cache-control': 'max-age=0',
      });
      res.end(JSON.stringify({ tenant: 'acme', service: 'api', environment: 'prod', url: 'https://a.example', revision: 3 }));
    });
    const tm = client({ watch: false });
    expect(await tm.resolve('acme/api/prod')).toEqual({ url: 'https://a.example', failOpen: false, endpoints: [only('https://a.example')], revision: 3, asOf: 9, source: 'stale', ageMs: 120_000 });
  });

  it('off (0): an unreachable resolver throws', async () => {
    let up = true;
    server.on('/v1/resolve/', (_req, res) => (up ? resolved(res, 'acme/api/prod', 'https://a.example', 3, 9) : problem(res, 503, 'Service Unavailable', 'down')));
    const tm = client({ watch: false });
    await tm.resolve('acme/api/prod');
    up = false;
    expect((await rejection(tm.resolve('acme/api/prod'))).code).toBe('unavailable');
  });

  it('on: the last known resolver answer is served as stale within its age, and not past it', async () => {
    let up = true;
    server.on('/v1/resolve/', (_req, res) => (up ? resolved(res, 'acme/api/prod', 'https://a.example', 3, 9) : problem(res, 503, 'Service Unavailable', 'down')));
    const tm = client({ watch: false, staleIfErrorMs: 1000 });
    const stale: number[] = [];
    tm.on('stale', ({ ageMs }) => stale.push(ageMs));
    await tm.resolve('acme/api/prod');
    up = false;
    const answer = await tm.resolve('acme/api/prod');
    expect(answer).toMatchObject({ url: 'https://a.example', revision: 3, asOf: 9, source: 'stale' });
    expect(stale).toHaveLength(1);
    expect(tm.stats().staleAnswers).toBe(1);
    // Not for a session that needs more than the last known answer has.
    expect((await rejection(tm.resolve('acme/api/prod', { minRevision: 10 }))).code).toBe('unavailable');
    await sleep(1100);
    expect((await rejection(tm.resolve('acme/api/prod'))).code).toBe('unavailable');
  });

  it('on: the view of a watch that went down serves as the last known answer', async () => {
    watchAcme((s, n) => {
      if (n === 1) s.snapshot({ 'acme/api/prod': ['https://a.example', 3] }, 5);
      else s.res.destroy();
    });
    server.on('/v1/resolve/', (req) => req.socket.destroy());
    const tm = client({ staleIfErrorMs: 10_000 });
    expect(await tm.resolve('acme/api/prod')).toMatchObject({ source: 'memory' });
    server.dropStreams();
    await until(() => tm.stats().watches[0]?.state === 'down', 3000, 'the watch down');
    expect(await tm.resolve('acme/api/prod')).toMatchObject({ url: 'https://a.example', asOf: 5, source: 'stale' });
  });
});

describe('sessions', () => {
  it('read their own writes and never go backwards', async () => {
    watchAcme((s) => s.snapshot({ 'acme/api/prod': ['https://a.example', 3] }, 5));
    server.on('/v1/routes/acme/api/prod', (req, res) => {
      if (req.method === 'PUT') {
        res.writeHead(200, { 'content-type': 'application/json', etag: '"12"', 'x-route-revision': '12' });
        res.end(JSON.stringify({ tenant: 'acme', service: 'api', environment: 'prod', url: 'https://b.example', revision: 12, createdAt: 'x', updatedAt: 'y' }));
      } else if (req.method === 'DELETE') {
        res.writeHead(204, { 'x-route-revision': '20' });
        res.end();
      }
    });
    server.on('/v1/routes/acme/none/prod', (_req, res) => problem(res, 404, 'Not Found', 'no such route'));
    let asOf = 14;
    server.on('/v1/resolve/', (_req, res) => resolved(res, 'acme/api/prod', 'https://b.example', 12, asOf));
    const tm = client({ timeoutMs: 1000 });
    expect(await tm.resolve('acme/api/prod')).toMatchObject({ source: 'memory' });
    const s = tm.session();
    expect(await s.resolve('acme/api/prod')).toMatchObject({ source: 'memory', asOf: 5 });
    expect(s.revision).toBe(5);
    const put = await s.put('acme/api/prod', { url: 'https://b.example' });
    expect(put).toMatchObject({ url: 'https://b.example', revision: 12 });
    expect(s.revision).toBe(12);
    const putCall = server.requests('/v1/routes/acme/api/prod')[0];
    expect(putCall?.method).toBe('PUT');
    // The view (5) is behind the write (12): the resolver answers, asked for at least 12.
    expect(await s.resolve('acme/api/prod')).toMatchObject({ url: 'https://b.example', source: 'resolver', asOf: 14 });
    expect(server.requests('/v1/resolve/')[0]?.headers['x-min-revision']).toBe('12');
    expect(s.revision).toBe(14);
    asOf = 13;
    await s.resolve('acme/api/prod');
    expect(s.revision).toBe(14);
    expect(server.requests('/v1/resolve/')[1]?.headers['x-min-revision']).toBe('14');
    expect(await s.delete('acme/api/prod')).toBe(true);
    expect(s.revision).toBe(20);
    expect(await s.delete('acme/none/prod')).toBe(false);
    expect(s.revision).toBe(20);
    // Resumed elsewhere from its token, the session asks for the same minimum.
    const resumed = client().session(s.token);
    expect(resumed.revision).toBe(20);
  });

  it('write errors keep their codes; a bad URL is refused before any request', async () => {
    server.on('/v1/routes/', (_req, res) => problem(res, 412, 'Precondition Failed', 'route acme/api/prod is at revision 7, not 6'));
    const tm = client({ watch: false });
    const s = tm.session();
    const error = await rejection(s.put('acme/api/prod', { url: 'https://b.example' }, { ifMatch: 6 }));
    expect(error).toMatchObject({ code: 'conflict', status: 412 });
    expect(server.requests('/v1/routes/')[0]?.headers['if-match']).toBe('"6"');
    expect((await rejection(s.put('acme/api/prod', { url: 'ftp://x' }))).code).toBe('invalid_argument');
    expect((await rejection(client({ watch: false, commandUrl: undefined }).put('acme/api/prod', { url: 'https://x.example' }))).code).toBe('invalid_config');
    expect(s.revision).toBe(0);
  });

  it("a tenant's quotas are codes of their own; another 409 is http_error", async () => {
    server.on('/v1/routes/acme/routes', (_req, res) => problem(res, 409, 'Conflict', 'tenant acme has 10000 routes, its limit', { code: 'tenant_route_quota' }));
    server.on('/v1/routes/acme/probes', (_req, res) => problem(res, 409, 'Conflict', 'tenant acme probes 256 endpoints, its limit', { code: 'tenant_probe_quota' }));
    server.on('/v1/routes/acme/other', (_req, res) => problem(res, 409, 'Conflict', 'something else', { code: 'something_else' }));
    const tm = client({ watch: false });
    const put = (service: string) => rejection(tm.put(`acme/${service}/prod`, { url: 'https://x.example' }));
    expect(await put('routes')).toMatchObject({ code: 'tenant_route_quota', status: 409, message: '409 Conflict: tenant acme has 10000 routes, its limit' });
    expect(await put('probes')).toMatchObject({ code: 'tenant_probe_quota', status: 409 });
    expect(await put('other')).toMatchObject({ code: 'http_error', status: 409 });
  });
});

describe('the watch protocol', () => {
  it('reconnects with Last-Event-ID (the last revision seen) and keeps the view across the gap', async () => {
    const streams = watchAcme((s, n) => {
      if (n === 1) s.snapshot({ 'acme/api/prod': ['https://a.example', 3] }, 5).put('acme/api/prod', 'https://b.example', 6, 6);
      else s.put('acme/api/prod', 'https://c.example', 7, 7).bookmark(7);
    });
    const tm = client();
    const seen = states(tm);
    expect(await tm.resolve('acme/api/prod')).toMatchObject({ source: 'memory' });
    await until(() => tm.resolveCached('acme/api/prod')?.url === 'https://b.example', 3000, 'the put of 6');
    streams[0]?.res.destroy();
    await until(() => tm.resolveCached('acme/api/prod', 7)?.url === 'https://c.example', 3000, 'the resumed stream');
    const watches = server.requests('/v1/watch/acme');
    expect(watches).toHaveLength(2);
    expect(watches[1]?.headers['last-event-id']).toBe('6');
    expect(seen).toEqual(['connecting', 'synced', 'down', 'synced']);
  });

  it('a 410 on resume drops the view and takes a new snapshot without Last-Event-ID', async () => {
    server.on('/v1/watch/acme', (_req, res) => {
      const n = server.requests('/v1/watch/acme').length;
      if (n === 2) problem(res, 410, 'Gone', 'revision 5 is compacted', { compactRevision: 30, currentRevision: 50 });
      else {
        const s = openStream(res);
        if (n === 1) s.snapshot({ 'acme/old/prod': ['https://old.example', 3] }, 5);
        else s.snapshot({ 'acme/new/prod': ['https://new.example', 40] }, 50);
      }
    });
    const tm = client();
    const errors: string[] = [];
    tm.on('error', (e) => errors.push(e.message));
    expect(await tm.resolve('acme/old/prod')).toMatchObject({ source: 'memory', asOf: 5 });
    server.dropStreams();
    await until(() => tm.resolveCached('acme/new/prod')?.url === 'https://new.example', 3000, 'the new snapshot');
    expect(tm.resolveCached('acme/old/prod')).toBeNull();
    const watches = server.requests('/v1/watch/acme');
    expect(watches.map((w) => w.headers['last-event-id'])).toEqual([undefined, '5', undefined]);
    expect(errors.some((m) => m.startsWith('410 Gone'))).toBe(true);
  });

  it('a reconnect during the snapshot takes a new snapshot', async () => {
    watchAcme((s, n) => {
      if (n === 1) {
        s.put('acme/api/prod', 'https://half.example', 3);
        setTimeout(() => s.res.destroy(), 20);
      } else s.snapshot({ 'acme/api/prod': ['https://whole.example', 4] }, 6);
    });
    server.on('/v1/resolve/', (_req, res) => resolved(res, 'acme/api/prod', 'https://whole.example', 4, 6));
    const tm = client();
    // The watch goes down mid-snapshot: that lookup goes to the resolver, the half snapshot is never used.
    expect(await tm.resolve('acme/api/prod')).toMatchObject({ url: 'https://whole.example', source: 'resolver' });
    await until(() => tm.resolveCached('acme/api/prod')?.url === 'https://whole.example', 3000, 'the second snapshot');
    expect(server.requests('/v1/watch/acme').map((w) => w.headers['last-event-id'])).toEqual([undefined, undefined]);
  });

  it('a watch silent for 3 bookmark intervals is down, and lookups go to the resolver', async () => {
    watchAcme((s, n) => {
      if (n === 1) s.snapshot({ 'acme/api/prod': ['https://a.example', 3] }, 5);
    }, 100);
    server.on('/v1/resolve/', (_req, res) => resolved(res, 'acme/api/prod', 'https://r.example', 3, 9));
    const tm = client();
    const seen = states(tm);
    expect(await tm.resolve('acme/api/prod')).toMatchObject({ source: 'memory' });
    const errors: string[] = [];
    tm.on('error', (e) => errors.push(e.code));
    await until(() => seen.includes('down'), 2000, 'the watch down');
    expect(errors).toContain('timeout');
    expect(tm.resolveCached('acme/api/prod')).toBeUndefined();
    expect(await tm.resolve('acme/api/prod')).toMatchObject({ source: 'resolver', url: 'https://r.example' });
  });

  it('a 503 with Retry-After is waited out before the next attempt', async () => {
    server.on('/v1/watch/acme', (_req, res) => {
      if (server.requests('/v1/watch/acme').length === 1) problem(res, 503, 'Service Unavailable', 'PostgreSQL is unavailable', {}, { 'retry-after': '1' });
      else openStream(res).snapshot({}, 5);
    });
    const tm = client({ watchWaitMs: 0 });
    server.on('/v1/resolve/', (_req, res) => notFound(res, 'acme/api/prod', 5));
    await tm.resolve('acme/api/prod');
    await until(() => tm.stats().watches[0]?.state === 'synced', 5000, 'the watch synced');
    const [a, b] = server.requests('/v1/watch/acme');
    expect((b?.at ?? 0) - (a?.at ?? 0)).toBeGreaterThanOrEqual(950);
    expect(tm.resolveCached('acme/api/prod')).toBeNull();
  });

  it('a 429 (watch_stream_quota) is an error event with its code, and waited out by Retry-After before the next attempt', async () => {
    server.on('/v1/watch/acme', (_req, res) => {
      if (server.requests('/v1/watch/acme').length === 1) {
        problem(res, 429, 'Too Many Requests', 'this key has 1000 watch streams open', { code: 'watch_stream_quota' }, { 'retry-after': '1' });
      } else {
        openStream(res).snapshot({}, 5);
      }
    });
    server.on('/v1/resolve/', (_req, res) => notFound(res, 'acme/api/prod', 5));
    const tm = client({ watchWaitMs: 0 });
    const errors: TrafficManagerError[] = [];
    tm.on('error', (e) => errors.push(e));
    await tm.resolve('acme/api/prod');
    await until(() => tm.stats().watches[0]?.state === 'synced', 5000, 'the watch synced');
    expect(errors).toEqual([expect.objectContaining({ code: 'watch_stream_quota', status: 429, retryAfterMs: 1000 })]);
    const [a, b] = server.requests('/v1/watch/acme');
    expect((b?.at ?? 0) - (a?.at ?? 0)).toBeGreaterThanOrEqual(950);
    expect(server.requests('/v1/watch/acme')).toHaveLength(2);
  });

  it('a 429 or a 503 without Retry-After backs off as any failure does, never reconnecting at once', async () => {
    // The backoff's jitter at its ceiling: 250 ms, then 500 ms.
    const random = jest.spyOn(Math, 'random').mockReturnValue(1);
    try {
      server.on('/v1/watch/acme', (_req, res) => {
        const n = server.requests('/v1/watch/acme').length;
        if (n === 1) problem(res, 429, 'Too Many Requests', 'over the limit', { code: 'rate_limited' });
        else if (n === 2) problem(res, 503, 'Service Unavailable', 'PostgreSQL is unavailable', { code: 'dependency_unavailable' });
        else openStream(res).snapshot({}, 5);
      });
      server.on('/v1/resolve/', (_req, res) => notFound(res, 'acme/api/prod', 5));
      const tm = client({ watchWaitMs: 0 });
      await tm.resolve('acme/api/prod');
      await until(() => tm.stats().watches[0]?.state === 'synced', 5000, 'the watch synced');
      const [a, b, c] = server.requests('/v1/watch/acme').map((r) => r.at);
      expect((b ?? 0) - (a ?? 0)).toBeGreaterThanOrEqual(240);
      expect((c ?? 0) - (b ?? 0)).toBeGreaterThanOrEqual(490);
    } finally {
      random.mockRestore();
    }
  });

  it('401 and 403 on the watch are error events with their codes; resolve() reports the same codes', async () => {
    server.on('/v1/watch/acme', (_req, res) => problem(res, 401, 'Unauthorized', 'unknown key', {}, { 'www-authenticate': 'Bearer' }));
    server.on('/v1/watch/beta', (_req, res) => problem(res, 403, 'Forbidden', 'no routes:read on beta'));
    server.on('/v1/resolve/acme', (_req, res) => problem(res, 401, 'Unauthorized', 'unknown key'));
    server.on('/v1/resolve/beta', (_req, res) => problem(res, 403, 'Forbidden', 'no routes:read on beta'));
    const tm = client();
    const errors: string[] = [];
    tm.on('error', (e) => errors.push(e.code));
    expect((await rejection(tm.resolve('acme/api/prod'))).code).toBe('unauthorized');
    expect((await rejection(tm.resolve('beta/api/prod'))).code).toBe('forbidden');
    await until(() => errors.includes('unauthorized') && errors.includes('forbidden'), 2000, 'the error events');
  });

  it('an error event with no listener does not crash the process', async () => {
    server.on('/v1/watch/acme', (_req, res) => problem(res, 401, 'Unauthorized', 'unknown key'));
    server.on('/v1/resolve/', (_req, res) => notFound(res, 'acme/api/prod', 1));
    const tm = client({ watchWaitMs: 0 });
    await tm.resolve('acme/api/prod');
    await until(() => tm.stats().watches[0]?.state === 'down', 2000, 'the watch down');
  });

  it('keeps at most maxTenants watches, closing the least recently used', async () => {
    for (const tenant of ['t1', 't2', 't3']) server.on(`/v1/watch/${tenant}`, (_req, res) => openStream(res).snapshot({}, 1));
    const tm = client({ maxTenants: 2 });
    const closed: string[] = [];
    tm.on('watch-state', ({ tenant, state }) => state === 'closed' && closed.push(tenant));
    await tm.resolve('t1/a/b');
    await tm.resolve('t2/a/b');
    await tm.resolve('t1/a/b');
    await tm.resolve('t3/a/b');
    expect(closed).toEqual(['t2']);
    expect(tm.stats().watches.map((w) => w.tenant).sort()).toEqual(['t1', 't3']);
    expect(tm.resolveCached('t2/a/b')).toBeUndefined();
    expect(tm.resolveCached('t1/a/b')).toBeNull();
    expect(tm.resolveCached('t3/a/b')).toBeNull();
    expect(tm.resolveCached('t2/a/b')).toBeUndefined();
    expect(tm.resolveCached('t1/a/B')).toBeUndefined();
    expect(tm.resolveCached({ tenant: 't3', service: 'a', environment: 'b' })).toBeNull();
  });
});
