import { routeEvent, type HealthCheck, type PolicyEndpoint } from '@tm/contracts';
import { refuse, SseServer, stream, until } from '@tm/watch/testing';
import { RouteFeed, type ProbedRoute } from './route-feed';

const CHECK: HealthCheck = { type: 'http', path: '/healthz', intervalSeconds: 5, timeoutSeconds: 2, healthyThreshold: 1, unhealthyThreshold: 2 };

let server: SseServer | undefined;
let feed: RouteFeed | undefined;

afterEach(async () => {
  feed?.stop();
  await server?.close();
});

/** A put of a route with a health check (probed) or without (not probed), as the watch sends it. */
function put(route: string, url: string, revision: number, probed: boolean, id?: number): string {
  const [tenant, service, environment] = route.split('/') as [string, string, string];
  const endpoints: PolicyEndpoint[] = [{ id: 'e1', url, priority: 0, weight: 100, state: 'enabled', healthRevision: revision }];
  const event = routeEvent(`e${revision}`, new Date(), { tenant, service, environment, url, revision, endpoints, healthCheck: probed ? CHECK : null });
  return `event: put\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(event)}\n\n`;
}

describe('RouteFeed', () => {
  it('gives the probed routes of the snapshot, then their changes; a route no longer probed is gone; resumes after a cut', async () => {
    server = await SseServer.start((n, res) => {
      const out = stream(res);
      if (n === 1) {
        out.write(put('acme/a/prod', 'https://a', 3, true)).write(put('acme/b/prod', 'https://b', 4, false)).bookmark(5, true);
        out.write(put('acme/a/prod', 'https://a2', 6, true, 6)).write(put('acme/b/prod', 'https://b2', 7, true, 7));
        setTimeout(() => res.destroy(), 50);
      } else {
        out.write(put('acme/b/prod', 'https://b3', 8, false, 8)).bookmark(8);
      }
    });
    const replaced: string[][] = [];
    const changed: [string, string | undefined][] = [];
    const connection: string[] = [];
    feed = new RouteFeed(server.url, 'k1', {
      replaced: (routes: ReadonlyMap<string, ProbedRoute>) => replaced.push([...routes.keys()]),
      changed: (key, route) => changed.push([key, route?.endpoints[0]?.url]),
      connection: (up, reason) => connection.push(up ? 'up' : `down: ${reason ?? ''}`),
    });
    feed.start();
    await until(() => changed.length === 3, 'three changes');
    expect(replaced).toEqual([['acme/a/prod']]);
    expect(changed).toEqual([
      ['acme/a/prod', 'https://a2'],
      ['acme/b/prod', 'https://b2'],
      ['acme/b/prod', undefined],
    ]);
    expect(server.taken.map((t) => t.url)).toEqual(['/v1/watch', '/v1/watch']);
    expect(server.taken.map((t) => t.headers['last-event-id'])).toEqual([undefined, '7']);
    expect(server.taken[0]?.headers['authorization']).toBe('Bearer k1');
    expect(connection).toEqual(['up', expect.stringMatching(/^down: /), 'up']);
    expect(feed.synced).toBe(true);
  });

  it('reports a refused key once, with what the key needs, and keeps trying', async () => {
    server = await SseServer.start((_n, res) => refuse(res, 403, 'no routes:read'));
    const connection: string[] = [];
    feed = new RouteFeed(server.url, 'k1', { replaced: () => undefined, changed: () => undefined, connection: (up, reason) => connection.push(`${up} ${reason ?? ''}`) });
    feed.start();
    await until(() => (server?.taken.length ?? 0) >= 3, 'three attempts');
    expect(connection).toEqual(['false the watch answered 403 Forbidden: PROBER_API_KEY must be a stored key with routes:read on every tenant']);
    expect(feed.synced).toBe(false);
  });
});
