import { TrafficManagerClient } from './client';
import { FakeServer, openStream, problem, until } from './fake-server.test-support';
import type { FollowEvent } from './follow';

/** `get`, `list`, `health` and `follow` (what the CLI shows) against a local server speaking the contract. */
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
  const c = new TrafficManagerClient({ resolverUrl: server.url, commandUrl: server.url, apiKey: 'k1', watch: false, timeoutMs: 5000 });
  clients.push(c);
  return c;
}

const route = { tenant: 'acme', service: 'api', environment: 'prod', url: 'https://a.example', revision: 7, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z' };

describe('get, list and health', () => {
  it('get: the route from the command API, or null on 404; list: a page and its cursor; health: the endpoints, or null', async () => {
    // The latest matching registration wins: the health path after the route's.
    server.on('/v1/routes/acme/api/prod', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(route));
    });
    server.on('/v1/routes/acme/api/prod/health', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ probed: true, endpoints: [{ id: 'a', url: 'https://a.example', state: 'enabled', health: 'healthy', since: '2026-01-01T00:00:00Z', lastError: null }] }));
    });
    server.on('/v1/routes/acme/none/prod', (_req, res) => problem(res, 404, 'Not Found', 'no such route'));
    server.on('/v1/routes?', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ items: [route], nextCursor: 'c2' }));
    });
    const tm = client();
    expect(await tm.get('acme/api/prod')).toEqual(route);
    expect(await tm.get({ tenant: 'acme', service: 'none', environment: 'prod' })).toBeNull();
    expect(server.requests('/v1/routes/acme/api/prod')[0]?.headers['authorization']).toBe('Bearer k1');
    expect(await tm.list({ tenant: 'acme', cursor: 'c1' })).toEqual({ items: [route], nextCursor: 'c2' });
    expect(server.requests('/v1/routes?').map((r) => r.url)).toEqual(['/v1/routes?tenant=acme&cursor=c1&limit=500']);
    expect(await tm.health('acme/api/prod')).toMatchObject({ probed: true, endpoints: [{ id: 'a', health: 'healthy' }] });
    expect(await tm.health('acme/none/prod')).toBeNull();
    await expect(tm.get('Not/A/Route')).rejects.toMatchObject({ code: 'invalid_route' });
    expect(() => tm.list({ tenant: 'Bad!' })).toThrow(expect.objectContaining({ code: 'invalid_argument' }) as Error);
  });
});

describe('follow', () => {
  it('delivers every event in order, resumes with Last-Event-ID after a drop, and stops on close()', async () => {
    let connections = 0;
    server.on('/v1/watch', (_req, res) => {
      connections++;
      if (connections === 1) {
        openStream(res, 1000).snapshot({ 'acme/api/prod': ['https://a.example', 7] }, 9).put('beta/web/prod', 'https://b.example', 10, 10);
        setTimeout(() => res.end(), 50);
      } else {
        openStream(res, 1000).delete('acme/api/prod', 11).bookmark(11);
      }
    });
    const events: FollowEvent[] = [];
    const follow = client().follow({}, (event) => events.push(event));
    await until(() => events.some((e) => e.type === 'bookmark' && e.revision === 11), 10_000, 'the resumed stream');
    follow.close();
    expect(events.map((e) => (e.type === 'down' ? `down ${e.wasUp}` : e.type === 'put' || e.type === 'delete' ? `${e.type} ${e.route} ${e.revision}${e.type === 'put' && e.snapshot ? ' snapshot' : ''}` : `${e.type}`))).toEqual([
      'put acme/api/prod 7 snapshot',
      'bookmark',
      'put beta/web/prod 10',
      'down true',
      'delete acme/api/prod 11',
      'bookmark',
    ]);
    // Every route the key may read (no tenant), then the resume after revision 10.
    expect(server.requests('/v1/watch').map((r) => [r.url, r.headers['last-event-id']])).toEqual([
      ['/v1/watch', undefined],
      ['/v1/watch', '10'],
    ]);
  });

  it('a first connection refused is a down event that was never up; the client closes its follows', async () => {
    const tm = new TrafficManagerClient({ resolverUrl: 'http://127.0.0.1:9', watch: false });
    clients.push(tm);
    const events: FollowEvent[] = [];
    tm.follow({ tenant: 'acme' }, (event) => events.push(event));
    await until(() => events.length > 0, 10_000, 'the failure');
    expect(events[0]).toMatchObject({ type: 'down', wasUp: false, error: { code: 'network' } });
    await tm.close();
    const seen = events.length;
    await new Promise((r) => setTimeout(r, 600));
    expect(events.length).toBe(seen);
  });
});
