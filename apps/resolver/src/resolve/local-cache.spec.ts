import type { CachedRoute } from '@tm/route-cache';
import { LocalRouteCache, type FeedProof } from './local-cache';

const route = (url: string, revision: number, probed = false): CachedRoute => ({
  url,
  revision,
  endpoints: [{ id: 'default', url, priority: 1, weight: 1, state: 'enabled', healthRevision: revision }],
  healthCheck: probed ? { type: 'http', path: '/', intervalSeconds: 5, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2, expectedStatus: '200-299' } : null,
});

describe('LocalRouteCache', () => {
  let now: number;
  let cache: LocalRouteCache;
  const proof = (revision: number, knownCurrentAt = 1_000_000 + revision): FeedProof => ({ revision, knownCurrentAt, establishedAt: now });
  beforeEach(() => {
    now = 0;
    cache = new LocalRouteCache({ maxRoutes: 3, maxProofAgeMs: 750, healthMs: 250 }, () => now);
  });

  it('takes nothing before the feed has proved its progress once', () => {
    cache.offer('a/b/c', { route: route('https://x/', 1), asOf: 5, knownAt: 1, health: undefined });
    cache.progressed(proof(5));
    expect(cache.get('a/b/c', undefined)).toBeUndefined();
  });

  it("answers with the feed's proof when it is later than the entry: the entry reflects the route as of that revision", () => {
    cache.progressed(proof(10));
    cache.offer('a/b/c', { route: route('https://x/', 3), asOf: 10, knownAt: 500, health: undefined });
    cache.progressed(proof(12));
    expect(cache.get('a/b/c', undefined)).toMatchObject({ asOf: 12, knownAt: 1_000_012, route: { url: 'https://x/' } });
    // A session beyond the proof is not answered from memory.
    expect(cache.get('a/b/c', 13)).toBeUndefined();
    expect(cache.get('a/b/c', 12)).toBeDefined();
  });

  it('a change the feed delivers removes the entry, and an answer read before it is not taken afterwards', () => {
    cache.progressed(proof(10));
    cache.offer('a/b/c', { route: route('https://old/', 3), asOf: 10, knownAt: 1, health: undefined });
    cache.changed([{ key: 'a/b/c', revision: 11 }]);
    expect(cache.get('a/b/c', undefined)).toBeUndefined();
    // A read that started before the change answers later: as of 10, behind 11.
    cache.offer('a/b/c', { route: route('https://old/', 3), asOf: 10, knownAt: 1, health: undefined });
    expect(cache.get('a/b/c', undefined)).toBeUndefined();
    expect(cache.changedSince('a/b/c', 10)).toBe(true);
    expect(cache.changedSince('a/b/c', 11)).toBe(false);
    // One as of the change or later is taken.
    cache.offer('a/b/c', { route: route('https://new/', 11), asOf: 11, knownAt: 2, health: undefined });
    expect(cache.get('a/b/c', undefined)).toMatchObject({ route: { url: 'https://new/' } });
  });

  it('an answer older than the feed cannot be checked (changes before the feed started are unknown): not taken', () => {
    cache.progressed(proof(10));
    cache.offer('a/b/c', { route: route('https://x/', 3), asOf: 9, knownAt: 1, health: undefined });
    expect(cache.get('a/b/c', undefined)).toBeUndefined();
  });

  it('stops answering when the proof is too old (the feed cannot read: PostgreSQL down), and again once proved', () => {
    cache.progressed(proof(10));
    cache.offer('a/b/c', { route: route('https://x/', 3), asOf: 10, knownAt: 1, health: undefined });
    now = 751;
    expect(cache.answering()).toBe(false);
    expect(cache.get('a/b/c', undefined)).toBeUndefined();
    cache.progressed(proof(10));
    expect(cache.get('a/b/c', undefined)).toBeDefined();
  });

  it("keeps a probed route's votes for healthMs, and drops them when its health changes or messages were lost", () => {
    cache.progressed(proof(10));
    const votes = new Map([['default|3', 'healthy' as const]]);
    cache.offer('a/b/c', { route: route('https://x/', 3, true), asOf: 10, knownAt: 1, health: votes });
    cache.offer('a/b/d', { route: route('https://y/', 3), asOf: 10, knownAt: 1, health: undefined });
    expect(cache.get('a/b/c', undefined)?.health).toBe(votes);
    now = 200;
    cache.progressed(proof(10));
    cache.healthChanged('a/b/d'); // not probed: kept
    expect(cache.get('a/b/d', undefined)).toBeDefined();
    now = 251;
    expect(cache.get('a/b/c', undefined)).toBeUndefined();
    cache.offer('a/b/c', { route: route('https://x/', 3, true), asOf: 10, knownAt: 1, health: votes });
    cache.healthChanged('a/b/c');
    expect(cache.get('a/b/c', undefined)).toBeUndefined();
    cache.offer('a/b/c', { route: route('https://x/', 3, true), asOf: 10, knownAt: 1, health: votes });
    cache.healthLost();
    expect(cache.get('a/b/c', undefined)).toBeUndefined();
    expect(cache.get('a/b/d', undefined)).toBeDefined();
  });

  it('a gap in the feed empties memory; answers from before the gap are not taken', () => {
    cache.progressed(proof(10));
    cache.offer('a/b/c', { route: route('https://x/', 3), asOf: 10, knownAt: 1, health: undefined });
    cache.lost(20);
    expect(cache.size).toBe(0);
    cache.progressed(proof(20));
    cache.offer('a/b/c', { route: route('https://x/', 3), asOf: 15, knownAt: 1, health: undefined });
    expect(cache.get('a/b/c', undefined)).toBeUndefined();
    cache.offer('a/b/c', { route: route('https://x/', 3), asOf: 20, knownAt: 1, health: undefined });
    expect(cache.get('a/b/c', undefined)).toBeDefined();
  });

  it('holds maxRoutes at most, the oldest taken going first; a negative answer is held too', () => {
    cache.progressed(proof(10));
    for (const k of ['a', 'b', 'c', 'd']) cache.offer(`t/${k}/e`, { route: k === 'd' ? null : route(`https://${k}/`, 3), asOf: 10, knownAt: 1, health: undefined });
    expect(cache.size).toBe(3);
    expect(cache.get('t/a/e', undefined)).toBeUndefined();
    expect(cache.get('t/d/e', undefined)).toMatchObject({ route: null, asOf: 10 });
  });

  it('keeps its record of changes bounded: past it, answers from before the last change are not taken', () => {
    cache.progressed(proof(1));
    const changes = Array.from({ length: 1_001 }, (_, i) => ({ key: `t/s${i}/e`, revision: i + 2 }));
    cache.changed(changes);
    cache.offer('t/s0/e', { route: route('https://x/', 2), asOf: 1_001, knownAt: 1, health: undefined });
    expect(cache.get('t/s0/e', undefined)).toBeUndefined();
    cache.offer('t/s0/e', { route: route('https://x/', 2), asOf: 1_002, knownAt: 1, health: undefined });
    expect(cache.get('t/s0/e', undefined)).toBeDefined();
  });

  it('off (maxRoutes 0): holds nothing', () => {
    const off = new LocalRouteCache({ maxRoutes: 0, maxProofAgeMs: 750, healthMs: 250 }, () => now);
    off.progressed(proof(10));
    off.offer('a/b/c', { route: route('https://x/', 3), asOf: 10, knownAt: 1, health: undefined });
    expect(off.enabled).toBe(false);
    expect(off.get('a/b/c', undefined)).toBeUndefined();
  });
});
