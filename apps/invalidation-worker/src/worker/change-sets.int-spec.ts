import { routeEvent } from '@tm/contracts';
import type { ConsumedMessage } from '@tm/messaging';
import { createRedisClient, RouteCache, type EventToApply, type RedisClient } from '@tm/route-cache';
import { deleteKeysWithPrefix, testInfra, testKeyPrefix } from '@tm/testing';
import { parseMessage } from './worker.service';

const T0 = 1_700_000_000_000;

/** The Kafka message of one route's event in a change set of `size` routes at `revision`, as the relay publishes it. */
function message(service: string, url: string | null, revision: number, size: number): ConsumedMessage {
  const data = { tenant: 'acme', service, environment: 'prod', url, revision, endpoints: url === null ? [] : [{ id: 'default', url, priority: 1, weight: 1, state: 'enabled' as const, healthRevision: revision }], healthCheck: null };
  const event = routeEvent(`e-${service}-${revision}`, new Date(T0 + revision), data, '0b7e9a4e-0000-4000-8000-000000000001', size);
  return { key: event.subject, value: Buffer.from(JSON.stringify(event)) } as unknown as ConsumedMessage;
}

function parsed(messages: ConsumedMessage[]): EventToApply[] {
  return messages.map((m) => {
    const p = parseMessage(m);
    if (!('event' in p)) throw new Error(p.reason);
    return p.event;
  });
}

/**
 * Change sets: one revision, one event per route it changed. The worker applies events per route,
 * gated by each route's own revision: nothing is deduplicated or refused for sharing a revision.
 */
describe('the worker and change sets (real Redis)', () => {
  let client: RedisClient;
  let prefix: string;
  let cache: RouteCache;
  beforeAll(async () => {
    client = createRedisClient({ url: testInfra().redisUrl });
    await client.connect();
    prefix = testKeyPrefix();
    cache = new RouteCache(client, prefix, 60_000);
  });
  afterAll(async () => {
    await deleteKeysWithPrefix(prefix);
    await client.close();
  });

  it('applies every event of one revision, each to its own route, and a replay of the set changes nothing', async () => {
    const services = Array.from({ length: 50 }, (_, i) => `svc-${i}`);
    const set = services.map((s) => message(s, `https://${s}.example`, 7, services.length));
    const events = parsed(set);
    expect(events.map((e) => e.data.revision)).toEqual(services.map(() => 7));
    expect(await cache.applyEvents(events, 'refresh')).toEqual(services.map(() => true));
    for (const s of services) expect((await cache.read({ tenant: 'acme', service: s, environment: 'prod' }))?.route).toMatchObject({ url: `https://${s}.example`, revision: 7 });
    // At least once: the same set again (a relay that crashed before marking it) is a no-op per route.
    expect(await cache.applyEvents(parsed(set), 'refresh')).toEqual(services.map(() => false));

    // The next set deletes half of them at revision 8: applied alongside the older events of the rest.
    const deleted = services.filter((_, i) => i % 2 === 0);
    const next = parsed(deleted.map((s) => message(s, null, 8, deleted.length)));
    expect(await cache.applyEvents(next, 'refresh')).toEqual(deleted.map(() => true));
    for (const [i, s] of services.entries()) {
      const entry = await cache.read({ tenant: 'acme', service: s, environment: 'prod' });
      if (i % 2 === 0) expect(entry?.route ?? null).toBeNull();
      else expect(entry?.route).toMatchObject({ revision: 7 });
    }
  });
});
