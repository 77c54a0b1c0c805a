import type { HealthCheck } from '@tm/contracts';
import { HealthStore, nextLapse } from '@tm/route-cache';
import { resolveOn, ResolverUnderTest } from '../resolver.test-support';
import { listening, WatchClient, type Frame } from './watch.test-support';

const CHECK: HealthCheck = { type: 'http', path: '/healthz', intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2, expectedStatus: '200-299' };
const policy = {
  endpoints: [
    { id: 'a', url: 'https://a.health.example/', priority: 1, weight: 1, state: 'enabled' as const },
    { id: 'b', url: 'https://b.health.example/', priority: 2, weight: 1, state: 'enabled' as const },
  ],
  healthCheck: CHECK,
};

interface HealthData {
  tenant: string;
  service: string;
  environment: string;
  endpoint: string;
  healthRevision: number;
  health: string;
  since: string | null;
}
const healthOf = (frames: Frame[]): HealthData[] => frames.filter((f) => f.event === 'health').map((f) => JSON.parse(f.data) as HealthData);

/** `?health=true`: the current health after the snapshot (or a resume), then every change, from the probers' verdicts in Redis. */
describe('watch with health (real PostgreSQL and Redis)', () => {
  let r: ResolverUnderTest;
  let base: string;
  let store: HealthStore;
  const open: WatchClient[] = [];
  const watch = async (path: string, options?: Parameters<typeof WatchClient.open>[2]) => {
    const client = await WatchClient.open(base, path, options);
    open.push(client);
    return client;
  };
  const mark = async (endpoint: string, healthRevision: number, health: 'healthy' | 'unhealthy', ttlMs = 30_000, environment = 'prod') => {
    for (const prober of ['p1', 'p2']) {
      await store.recordVerdict({ tenant: 'wh', service: 'web', environment }, { id: endpoint, healthRevision }, { prober, health, error: null, ttlMs });
    }
  };

  beforeAll(async () => {
    r = await ResolverUnderTest.start({ env: { WATCH_BOOKMARK_INTERVAL_MS: '1000' } });
    base = await listening(r.app);
    store = new HealthStore(r.redis, r.prefix);
  });
  afterEach(() => {
    for (const c of open.splice(0)) c.close();
  });
  afterAll(() => r.stop());

  it('sends the current health of each endpoint after the snapshot, then each change as it is decided', async () => {
    const { data } = await r.writePolicy('wh/web/prod', policy);
    await r.write('wh/plain/prod', 'https://plain.example/');
    await mark('a', data.revision, 'unhealthy');
    const c = await watch('/v1/watch/wh?health=true');
    const first = await c.until((f) => healthOf(f).length >= 2);
    const snapshotEnd = first.findIndex((f) => f.event === 'bookmark');
    expect(first.findIndex((f) => f.event === 'health')).toBeGreaterThan(snapshotEnd);
    expect(healthOf(first).map((h) => [h.endpoint, h.health, h.healthRevision])).toEqual([
      ['a', 'unhealthy', data.revision],
      ['b', 'unknown', data.revision],
    ]);
    expect(healthOf(first)[0]).toMatchObject({ tenant: 'wh', service: 'web', environment: 'prod', since: expect.any(String) as unknown });
    // Unknown too carries a since (a moment within it): a client applies it like any other.
    expect(healthOf(first).every((h) => typeof h.since === 'string' && !Number.isNaN(Date.parse(h.since)))).toBe(true);
    expect(first.filter((f) => f.event === 'health').every((f) => f.id === undefined)).toBe(true);

    // One prober, then the other: no majority (unknown), then healthy; each decision is an event.
    await mark('a', data.revision, 'healthy');
    const later = await c.until((f) => healthOf(f).length >= 4);
    expect(healthOf(later).slice(2).map((h) => [h.endpoint, h.health])).toEqual([
      ['a', 'unknown'],
      ['a', 'healthy'],
    ]);
  });

  it('a stream without health=true gets no health events; one of another service neither', async () => {
    const { data } = await r.writePolicy('wh/web/prod', { ...policy, endpoints: policy.endpoints.map((e) => ({ ...e, weight: 2 })) });
    const plain = await watch('/v1/watch/wh');
    const other = await watch('/v1/watch/wh?service=plain&health=true');
    const probe = await watch('/v1/watch/wh?health=true');
    await Promise.all([plain.untilBookmark(0), other.untilBookmark(0), probe.until((f) => healthOf(f).length >= 2)]);
    await mark('b', data.revision, 'unhealthy');
    await probe.until((f) => healthOf(f).some((h) => h.endpoint === 'b' && h.health === 'unhealthy'));
    // The change reached a stream that asked for it; bookmarks since then show the others were live too.
    const revision = (await r.write('wh/plain/prod', 'https://plain2.example/')).data.revision;
    expect(healthOf(await plain.untilBookmark(revision))).toEqual([]);
    expect(healthOf(await other.untilBookmark(revision))).toEqual([]);
  });

  it('a resume with health=true starts with the current health too', async () => {
    const { data } = await r.writePolicy('wh/web/prod', policy);
    await mark('a', data.revision, 'unhealthy');
    const c = await watch(`/v1/watch/wh?health=true&since=${data.revision}`);
    const frames = await c.until((f) => healthOf(f).length >= 2);
    expect(healthOf(frames).map((h) => [h.endpoint, h.health])).toEqual([
      ['a', 'unhealthy'],
      ['b', 'unknown'],
    ]);
  });

  it('verdicts that expire with no prober left: the stream gets unknown within an interval, as the answers have it; a prober back is healthy again', async () => {
    // A long interval (the bound), verdicts that Redis expires (on its own clock) after 1.5 s.
    const check = { ...CHECK, intervalSeconds: 5, timeoutSeconds: 1 };
    const { data } = await r.writePolicy('wh/web/expiry', { ...policy, healthCheck: check });
    await mark('a', data.revision, 'healthy', 1_500, 'expiry');
    const expiresAt = nextLapse((await store.readAt({ tenant: 'wh', service: 'web', environment: 'expiry' })).records) ?? 0;
    const c = await watch('/v1/watch/wh?service=web&health=true');
    const ofA = (frames: Frame[]) => healthOf(frames).filter((h) => h.environment === 'expiry' && h.endpoint === 'a');
    await c.until((f) => ofA(f).some((h) => h.health === 'healthy'));
    // Every prober stopped: nothing is published; the resolver notices the expiry itself.
    const lapsed = await c.until((f) => ofA(f).at(-1)?.health === 'unknown');
    const unknown = ofA(lapsed).at(-1) as HealthData;
    const seen = ofA(lapsed).length;
    const since = Date.parse(String(unknown.since));
    expect(since).toBeGreaterThanOrEqual(expiresAt);
    expect(since - expiresAt).toBeLessThan(check.intervalSeconds * 1000);
    const answer = await resolveOn(r.app, 'wh/web/expiry');
    expect((answer.body['endpoints'] as { id: string; health: string }[]).map((e) => [e.id, e.health])).toEqual([
      ['a', 'unknown'],
      ['b', 'unknown'],
    ]);
    // A prober back with the verdict it had before: a change again, later than the expiry.
    await mark('a', data.revision, 'healthy', 30_000, 'expiry');
    const back = await c.until((f) => ofA(f).length > seen && ofA(f).at(-1)?.health === 'healthy');
    expect(Date.parse(String(ofA(back).at(-1)?.since))).toBeGreaterThan(since);
  });

  it('health must be true or false', async () => {
    const res = await fetch(`${base}/v1/watch/wh?health=yes`, { headers: { authorization: 'Bearer resolver-admin-token-0123456789' } });
    expect(res.status).toBe(400);
  });
});
