import type { HealthCheck, PolicyEndpoint } from '@tm/contracts';
import { TrafficManagerClient } from './client';
import { TrafficManagerError } from './errors';
import { FakeServer, openStream, problem, resolved, until, type SseWriter } from './fake-server.test-support';

// Lookups of routes with traffic policies: the SDK selects among the endpoints in memory with the
// resolver's own selection, by the health the watch's `event: health` frames carry.

let server: FakeServer;
const clients: TrafficManagerClient[] = [];

beforeEach(async () => {
  server = await FakeServer.start();
});

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await server.close();
});

function client(): TrafficManagerClient {
  const c = new TrafficManagerClient({ resolverUrl: server.url, apiKey: 'k1', watchWaitMs: 2000 });
  clients.push(c);
  return c;
}

const CHECK: HealthCheck = { type: 'http', path: '/health', intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2, expectedStatus: '200-299' };
const ROUTE = 'acme/pay/prod';

function endpoint(id: string, overrides: Partial<PolicyEndpoint> = {}): PolicyEndpoint {
  return { id, url: `https://${id}.example`, priority: 1, weight: 1, state: 'enabled', healthRevision: 3, ...overrides };
}

const PRIMARY_BACKUP = [endpoint('primary'), endpoint('backup', { priority: 2 })];

/** A watch of acme whose first stream sends the snapshot `send` writes; its streams, in order. */
function watch(send: (s: SseWriter) => void): SseWriter[] {
  const streams: SseWriter[] = [];
  server.on('/v1/watch/acme', (_req, res) => {
    const stream = openStream(res);
    streams.push(stream);
    send(stream);
  });
  return streams;
}

function thrown(fn: () => unknown): TrafficManagerError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TrafficManagerError) return e;
    throw e;
  }
  throw new Error('it did not throw');
}

describe('memory answers of traffic policies', () => {
  it('asks the watch for health, and answers with the pick, failOpen and every endpoint in selection order', async () => {
    watch((s) => s.policy(ROUTE, PRIMARY_BACKUP, CHECK, 3).bookmark(5, { snapshot: true }));
    const tm = client();
    const answer = await tm.resolve(ROUTE);
    expect(answer).toMatchObject({ url: 'https://primary.example', failOpen: false, revision: 3, asOf: 5, source: 'memory' });
    expect(answer?.endpoints).toEqual([
      { id: 'primary', url: 'https://primary.example', priority: 1, weight: 1, state: 'enabled', health: 'unknown' },
      { id: 'backup', url: 'https://backup.example', priority: 2, weight: 1, state: 'enabled', health: 'unknown' },
    ]);
    expect(server.requests('/v1/watch/acme')[0]?.url).toBe('/v1/watch/acme?health=true');
    expect(server.requests('/v1/resolve')).toHaveLength(0);
  });

  it('moves to the backup when the primary turns unhealthy, back when it recovers, and fails open when both are down', async () => {
    const streams = watch((s) => s.policy(ROUTE, PRIMARY_BACKUP, CHECK, 3).bookmark(5, { snapshot: true }));
    const tm = client();
    expect((await tm.resolve(ROUTE))?.url).toBe('https://primary.example');
    streams[0]?.health(ROUTE, 'primary', 'unhealthy', 3);
    await until(() => tm.resolveCached(ROUTE)?.url === 'https://backup.example', 3000, 'the failover');
    expect(tm.resolveCached(ROUTE)?.endpoints.map((e) => [e.id, e.health])).toEqual([
      ['backup', 'unknown'],
      ['primary', 'unhealthy'],
    ]);
    streams[0]?.health(ROUTE, 'backup', 'unhealthy', 3);
    await until(() => tm.resolveCached(ROUTE)?.failOpen === true, 3000, 'fail open');
    // Fail open: every enabled endpoint, the lowest priority first.
    expect(tm.resolveCached(ROUTE)?.url).toBe('https://primary.example');
    streams[0]?.health(ROUTE, 'primary', 'healthy', 3);
    await until(() => tm.resolveCached(ROUTE)?.failOpen === false, 3000, 'the failback');
    expect(tm.resolveCached(ROUTE)).toMatchObject({ url: 'https://primary.example', source: 'memory' });
  });

  it("ignores health of another health revision (a re-pointed endpoint starts unknown) and an older `since`", async () => {
    const streams = watch((s) => s.policy(ROUTE, PRIMARY_BACKUP, CHECK, 3).bookmark(5, { snapshot: true }));
    const tm = client();
    await tm.resolve(ROUTE);
    const now = Date.now();
    streams[0]?.health(ROUTE, 'primary', 'unhealthy', 2).health(ROUTE, 'primary', 'unhealthy', 3, new Date(now));
    await until(() => tm.resolveCached(ROUTE)?.url === 'https://backup.example', 3000, 'the failover');
    // A frame older than the one held (the current health sent at a start, crossing a relayed change).
    streams[0]?.health(ROUTE, 'primary', 'healthy', 3, new Date(now - 5_000)).bookmark(5);
    await until(() => tm.stats().watches[0]?.revision === 5, 3000, 'the bookmark');
    expect(tm.resolveCached(ROUTE)?.url).toBe('https://backup.example');
    // The primary re-pointed at revision 6: its health begins again, unknown.
    streams[0]?.policy(ROUTE, [endpoint('primary', { url: 'https://primary-2.example', healthRevision: 6 }), endpoint('backup', { priority: 2 })], CHECK, 6, 6);
    await until(() => tm.resolveCached(ROUTE)?.url === 'https://primary-2.example', 3000, 'the re-pointed primary');
    expect(tm.resolveCached(ROUTE)?.endpoints[0]).toMatchObject({ id: 'primary', health: 'unknown' });
  });

  it('applies unknown when the verdicts expire: with its since (the later one holds), and without one (an older server) as the latest word', async () => {
    const streams = watch((s) => s.policy(ROUTE, PRIMARY_BACKUP, CHECK, 3).bookmark(5, { snapshot: true }));
    const tm = client();
    await tm.resolve(ROUTE);
    const now = Date.now();
    streams[0]?.health(ROUTE, 'primary', 'unhealthy', 3, new Date(now));
    await until(() => tm.resolveCached(ROUTE)?.url === 'https://backup.example', 3000, 'the failover');
    // Every prober stopped: the primary's verdicts expire, and the resolver says so, since the expiry.
    streams[0]?.health(ROUTE, 'primary', 'unknown', 3, new Date(now + 4_000));
    await until(() => tm.resolveCached(ROUTE)?.url === 'https://primary.example', 3000, 'the primary unknown, selected again');
    expect(tm.resolveCached(ROUTE)?.endpoints.map((e) => [e.id, e.health])).toEqual([
      ['primary', 'unknown'],
      ['backup', 'unknown'],
    ]);
    // A prober back: its verdict is later than the expiry, so it holds; the current health read before the expiry does not.
    streams[0]?.health(ROUTE, 'primary', 'unhealthy', 3, new Date(now + 6_000)).health(ROUTE, 'primary', 'healthy', 3, new Date(now + 1_000)).bookmark(6);
    await until(() => tm.stats().watches[0]?.revision === 6, 3000, 'the bookmark after both');
    expect(tm.resolveCached(ROUTE)?.url).toBe('https://backup.example');
    // An older server's unknown has no since: it is applied all the same.
    streams[0]?.health(ROUTE, 'primary', 'unknown', 3, null);
    await until(() => tm.resolveCached(ROUTE)?.url === 'https://primary.example', 3000, 'the sinceless unknown applied');
  });

  it('a route not probed (no healthCheck) ignores health frames; weight 0 is a standby; draining is used last', async () => {
    const streams = watch((s) =>
      s
        .policy('acme/a/prod', [endpoint('main'), endpoint('standby', { weight: 0 })], null, 3)
        .policy('acme/b/prod', [endpoint('old', { state: 'draining' }), endpoint('new', { priority: 5 })], null, 3)
        .bookmark(5, { snapshot: true }),
    );
    const tm = client();
    expect((await tm.resolve('acme/a/prod'))?.url).toBe('https://main.example');
    expect(tm.resolveCached('acme/b/prod')?.url).toBe('https://new.example');
    streams[0]?.health('acme/a/prod', 'main', 'unhealthy', 3).bookmark(6);
    await until(() => tm.stats().watches[0]?.revision === 6, 3000, 'the bookmark');
    expect(tm.resolveCached('acme/a/prod')).toMatchObject({ url: 'https://main.example', failOpen: false });
    expect(tm.resolveCached('acme/a/prod')?.endpoints.map((e) => e.health)).toEqual(['unknown', 'unknown']);
  });

  it('weights split the picks; affinity keeps a string on its endpoint', async () => {
    watch((s) => s.policy(ROUTE, [endpoint('blue', { weight: 3 }), endpoint('green', { weight: 1 })], null, 3).bookmark(5, { snapshot: true }));
    const tm = client();
    await tm.resolve(ROUTE);
    let blue = 0;
    for (let i = 0; i < 2000; i++) if (tm.resolveCached(ROUTE)?.url === 'https://blue.example') blue++;
    expect(blue / 2000).toBeGreaterThan(0.7);
    expect(blue / 2000).toBeLessThan(0.8);
    for (const user of ['u1', 'u2', 'u3', 'u4']) {
      const first = tm.resolveCached(ROUTE, 0, user)?.url;
      for (let i = 0; i < 20; i++) expect(tm.resolveCached(ROUTE, 0, user)?.url).toBe(first);
      expect((await tm.resolve(ROUTE, { affinity: user }))?.url).toBe(first);
    }
  });

  it('no endpoint enabled or draining is no_enabled_endpoint, from memory and from the resolver alike', async () => {
    watch((s) => s.policy(ROUTE, [endpoint('a', { state: 'disabled' })], null, 3).bookmark(5, { snapshot: true }));
    server.on('/v1/resolve/', (_req, res) =>
      problem(res, 404, 'Not Found', `route ${ROUTE} has no endpoint enabled or draining`, { code: 'no_enabled_endpoint' }, { 'x-consistency-revision': '5' }),
    );
    const tm = client();
    const fromMemory = await tm.resolve(ROUTE).catch((e: unknown) => e);
    expect(fromMemory).toMatchObject({ code: 'no_enabled_endpoint', status: 404 });
    expect(thrown(() => tm.resolveCached(ROUTE)).code).toBe('no_enabled_endpoint');
    const fromResolver = await tm.resolve(ROUTE, { consistency: 'strong' }).catch((e: unknown) => e);
    expect(fromResolver).toMatchObject({ code: 'no_enabled_endpoint', status: 404 });
  });

  it("reads the resolver's failOpen and endpoints, and sends ?affinity=", async () => {
    const endpoints = [
      { id: 'b', url: 'https://b.example', priority: 1, weight: 1, state: 'enabled', health: 'unhealthy' },
      { id: 'a', url: 'https://a.example', priority: 1, weight: 1, state: 'enabled', health: 'unhealthy' },
    ];
    server.on('/v1/resolve/', (_req, res) => resolved(res, ROUTE, 'https://b.example', 3, 5, undefined, { failOpen: true, endpoints }));
    const tm = new TrafficManagerClient({ resolverUrl: server.url, watch: false });
    clients.push(tm);
    expect(await tm.resolve(ROUTE, { affinity: 'user 7' })).toMatchObject({ url: 'https://b.example', failOpen: true, endpoints, source: 'resolver' });
    expect(server.requests('/v1/resolve/')[0]?.url).toBe('/v1/resolve/acme/pay/prod?affinity=user+7');
    await expect(tm.resolve(ROUTE, { affinity: 'x'.repeat(257) })).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('a deleted route drops its health: re-created, its endpoints start unknown', async () => {
    const streams = watch((s) => s.policy(ROUTE, PRIMARY_BACKUP, CHECK, 3).bookmark(5, { snapshot: true }));
    const tm = client();
    await tm.resolve(ROUTE);
    streams[0]?.health(ROUTE, 'primary', 'unhealthy', 3);
    await until(() => tm.resolveCached(ROUTE)?.url === 'https://backup.example', 3000, 'the failover');
    streams[0]?.delete(ROUTE, 6).policy(ROUTE, PRIMARY_BACKUP, CHECK, 7, 7);
    await until(() => tm.resolveCached(ROUTE)?.revision === 7, 3000, 'the re-created route');
    // Same id and health revision as before the deletion would have: the health was dropped with the route.
    expect(tm.resolveCached(ROUTE)).toMatchObject({ url: 'https://primary.example' });
    expect(tm.resolveCached(ROUTE)?.endpoints.map((e) => e.health)).toEqual(['unknown', 'unknown']);
  });
});
