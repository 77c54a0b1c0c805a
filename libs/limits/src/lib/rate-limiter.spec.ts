import { RateLimiter, type SharedCounts } from './rate-limiter';

/** Shared counts in memory, as Redis keeps them: one total per (second, key). */
class MemoryCounts implements SharedCounts {
  readonly totals = new Map<string, number>();
  failing = false;
  calls = 0;

  async add(window: number, added: ReadonlyMap<string, number>): Promise<ReadonlyMap<string, number>> {
    this.calls++;
    if (this.failing) throw new Error('Redis is down');
    const answer = new Map<string, number>();
    for (const [key, n] of added) {
      const total = (this.totals.get(`${window}/${key}`) ?? 0) + n;
      this.totals.set(`${window}/${key}`, total);
      answer.set(key, total);
    }
    return answer;
  }
}

/** A clock the test moves. */
function clock(start = 1_700_000_000_000): { now: () => number; set(ms: number): void; advance(ms: number): void } {
  let t = start;
  return { now: () => t, set: (ms) => (t = ms), advance: (ms) => (t += ms) };
}

function takeMany(limiter: RateLimiter, key: string, n: number): number {
  let admitted = 0;
  for (let i = 0; i < n; i++) if (limiter.take(key)) admitted++;
  return admitted;
}

describe('RateLimiter', () => {
  it('admits `limit` requests of a key per second, then refuses until the next second', () => {
    const c = clock();
    const limiter = new RateLimiter(5, undefined, c.now);
    expect(takeMany(limiter, 'k', 8)).toBe(5);
    expect(limiter.remaining('k')).toBe(0);
    c.advance(999);
    expect(limiter.take('k')).toBe(false);
    c.advance(1);
    expect(limiter.remaining('k')).toBe(5);
    expect(takeMany(limiter, 'k', 8)).toBe(5);
  });

  it('counts each key on its own', () => {
    const c = clock();
    const limiter = new RateLimiter(3, undefined, c.now);
    expect(takeMany(limiter, 'hostile', 100)).toBe(3);
    expect(takeMany(limiter, 'honest', 3)).toBe(3);
  });

  it('tells how long until the window ends, in whole seconds, at least 1', () => {
    const c = clock(1_700_000_000_000);
    const limiter = new RateLimiter(1, undefined, c.now);
    expect(limiter.secondsToReset()).toBe(1);
    c.advance(999);
    expect(limiter.secondsToReset()).toBe(1);
  });

  it('two replicas limit a key together once they sync: each learns what the other admitted', async () => {
    const c = clock();
    const shared = new MemoryCounts();
    const a = new RateLimiter(10, shared, c.now);
    const b = new RateLimiter(10, shared, c.now);
    expect(takeMany(a, 'k', 6)).toBe(6);
    await a.sync();
    await b.sync(); // b has nothing of its own yet, but reads the total
    expect(b.remaining('k')).toBe(10);
    expect(takeMany(b, 'k', 3)).toBe(3);
    await b.sync();
    expect(b.remaining('k')).toBe(1);
    await a.sync();
    expect(a.remaining('k')).toBe(1);
    expect(takeMany(a, 'k', 5)).toBe(1);
    expect(takeMany(b, 'k', 5)).toBe(1); // the overshoot: b did not know of a's last one
    await a.sync();
    await b.sync();
    expect(shared.totals.get(`${Math.floor(c.now() / 1000)}/k`)).toBe(11);
    expect(takeMany(a, 'k', 5) + takeMany(b, 'k', 5)).toBe(0);
  });

  it('the overshoot is bounded by what the other replicas admit between two syncs', async () => {
    const c = clock();
    const shared = new MemoryCounts();
    const replicas = [0, 1, 2].map(() => new RateLimiter(100, shared, c.now));
    let admitted = 0;
    // Each round: every replica admits what it believes is left, then all sync.
    for (let round = 0; round < 5; round++) {
      for (const r of replicas) admitted += takeMany(r, 'k', 40);
      for (const r of replicas) await r.sync();
    }
    // 100 allowed; at most what two other replicas admitted in one interval (2 x 40) beyond it.
    expect(admitted).toBeGreaterThanOrEqual(100);
    expect(admitted).toBeLessThanOrEqual(100 + 2 * 40);
    for (const r of replicas) expect(r.take('k')).toBe(false);
  });

  it('a sync adds only what was admitted since the last one', async () => {
    const c = clock();
    const shared = new MemoryCounts();
    const a = new RateLimiter(100, shared, c.now);
    takeMany(a, 'k', 4);
    await a.sync();
    takeMany(a, 'k', 3);
    await a.sync();
    await a.sync();
    expect(shared.totals.get(`${Math.floor(c.now() / 1000)}/k`)).toBe(7);
  });

  it('a failed sync loses nothing: the counts go with the next one; meanwhile the replica limits on its own count', async () => {
    const c = clock();
    const shared = new MemoryCounts();
    const a = new RateLimiter(10, shared, c.now);
    const b = new RateLimiter(10, shared, c.now);
    takeMany(a, 'k', 4);
    shared.failing = true;
    await expect(a.sync()).rejects.toThrow('Redis is down');
    expect(takeMany(a, 'k', 10)).toBe(6);
    shared.failing = false;
    await a.sync();
    expect(shared.totals.get(`${Math.floor(c.now() / 1000)}/k`)).toBe(10);
    // b learns of a key at its first request of the second, and of its total at the sync after it.
    expect(b.take('k')).toBe(true);
    await b.sync();
    expect(b.take('k')).toBe(false);
  });

  it("a new second starts afresh on every replica, whatever the last sync said, and the past second's keys are forgotten", async () => {
    const c = clock(1_700_000_000_500);
    const shared = new MemoryCounts();
    const a = new RateLimiter(5, shared, c.now);
    const b = new RateLimiter(5, shared, c.now);
    takeMany(a, 'k', 4);
    b.take('k');
    await a.sync();
    await b.sync();
    expect(b.take('k')).toBe(false);
    c.advance(500);
    expect(takeMany(b, 'k', 5)).toBe(5);
    shared.calls = 0;
    await a.sync(); // a's key is from the past second: forgotten, nothing to send
    expect(shared.calls).toBe(0);
    expect(a.remaining('k')).toBe(5);
  });

  it('a sync answered after its second ended leaves the new second alone', async () => {
    const c = clock(1_700_000_000_900);
    let release: (() => void) | undefined;
    const shared: SharedCounts = {
      add: async (window, added) => {
        await new Promise<void>((r) => (release = r));
        return new Map([...added].map(([k]) => [k, 1_000] as const));
      },
    };
    const a = new RateLimiter(5, shared, c.now);
    a.take('k');
    const syncing = a.sync();
    c.advance(200); // the next second
    expect(a.take('k')).toBe(true);
    release?.();
    await syncing;
    expect(a.remaining('k')).toBe(4);
  });

  it('concurrent syncs are one', async () => {
    const c = clock();
    const shared = new MemoryCounts();
    const a = new RateLimiter(5, shared, c.now);
    a.take('k');
    await Promise.all([a.sync(), a.sync(), a.sync()]);
    expect(shared.calls).toBe(1);
  });
});
