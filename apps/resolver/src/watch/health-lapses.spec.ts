import type { Health, RouteId, Verdict } from '@tm/contracts';
import type { HealthChange, HealthRead, HealthRecords } from '@tm/route-cache';
import { HealthLapses, type EndpointState, type LapseTimers } from './health-lapses';

/** A clock of the test's own: timers fire only when the test advances it. */
class ManualTimers implements LapseTimers {
  time = 0;
  private queue: { at: number; callback: () => void }[] = [];

  now(): number {
    return this.time;
  }

  set(callback: () => void, ms: number): unknown {
    const timer = { at: this.time + ms, callback };
    this.queue.push(timer);
    return timer;
  }

  clear(timer: unknown): void {
    this.queue = this.queue.filter((t) => t !== timer);
  }

  get pending(): number[] {
    return this.queue.map((t) => t.at).sort((a, b) => a - b);
  }

  /** Moves the clock on by `ms`, firing each timer due on the way (and letting what it started settle). */
  async advance(ms: number): Promise<void> {
    const target = this.time + ms;
    for (;;) {
      const next = this.queue.filter((t) => t.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.queue = this.queue.filter((t) => t !== next);
      this.time = next.at;
      next.callback();
      await settle();
    }
    this.time = target;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

const ROUTE: RouteId = { tenant: 'acme', service: 'web', environment: 'prod' };
/** The Redis server's clock runs far from the local one: only durations cross between them. */
const REDIS_EPOCH = 1_700_000_000_000;

function verdict(prober: string, health: Health): Verdict {
  return { prober, health, since: REDIS_EPOCH, probedAt: REDIS_EPOCH, error: null, errorAt: null };
}

describe('HealthLapses (the deadline logic, on a clock of the test)', () => {
  let timers: ManualTimers;
  let sent: EndpointState[];
  let reads: number;
  let wanted: boolean;
  /** What Redis holds for the route: endpoint `a` at health revision 3. */
  let records: () => HealthRecords;
  let readFails: boolean;
  let lapses: HealthLapses;

  const redisNow = () => REDIS_EPOCH + timers.time;
  const healthyUntil = (expires: number): HealthRecords =>
    new Map([['a|3', { verdicts: [verdict('p1', 'healthy'), verdict('p2', 'healthy')], decided: { health: 'healthy' as const, since: REDIS_EPOCH, until: expires }, lapse: expires }]]);
  const change = (health: Health, since: number, until?: number): HealthChange => ({
    route: 'acme/web/prod',
    endpoint: 'a',
    healthRevision: 3,
    health,
    since,
    ...(until === undefined ? {} : { until }),
  });

  beforeEach(() => {
    timers = new ManualTimers();
    sent = [];
    reads = 0;
    wanted = true;
    readFails = false;
    records = () => new Map();
    lapses = new HealthLapses({
      timers,
      read: (): Promise<HealthRead> => {
        reads++;
        return readFails ? Promise.reject(new Error('Redis down')) : Promise.resolve({ now: redisNow(), records: records() });
      },
      send: (_id, state) => sent.push(state),
      wanted: () => wanted,
    });
  });
  afterEach(() => lapses.close());

  it('reads the route once, at the first expiry, and sends unknown (since the read) when the majority is gone', async () => {
    lapses.relayed(ROUTE, change('healthy', redisNow(), redisNow() + 3_000));
    records = () => healthyUntil(REDIS_EPOCH + 3_000);
    await timers.advance(2_999);
    expect(reads).toBe(0);
    // Every prober stopped: nothing renewed the verdicts, Redis has none fresh at the deadline.
    records = () => new Map();
    await timers.advance(2);
    expect(reads).toBe(1);
    expect(sent).toEqual([{ endpoint: 'a', healthRevision: 3, health: 'unknown', since: REDIS_EPOCH + 3_001 }]);
    // Nothing left that may change: the route is dropped, no timer remains.
    expect(lapses.size).toBe(0);
    expect(timers.pending).toEqual([]);
  });

  it('verdicts renewed by the probers: no frame, the next read at the new first expiry', async () => {
    lapses.relayed(ROUTE, change('healthy', redisNow(), redisNow() + 3_000));
    records = () => healthyUntil(REDIS_EPOCH + 4_500);
    await timers.advance(3_001);
    expect(reads).toBe(1);
    expect(sent).toEqual([]);
    expect(timers.pending).toEqual([4_501]);
    records = () => new Map([['a|3', { verdicts: [verdict('p1', 'unhealthy')], decided: { health: 'unhealthy' as const, since: REDIS_EPOCH + 4_000, until: REDIS_EPOCH + 7_000 }, lapse: REDIS_EPOCH + 7_000 }]]);
    await timers.advance(1_500);
    expect(reads).toBe(2);
    // A change no message brought (lost, or this replica subscribed late) is sent too, with its own since.
    expect(sent).toEqual([{ endpoint: 'a', healthRevision: 3, health: 'unhealthy', since: REDIS_EPOCH + 4_000 }]);
  });

  it('Redis not answering: nothing is sent, the read is tried again with backoff, and the news goes out once it answers', async () => {
    lapses.relayed(ROUTE, change('healthy', redisNow(), redisNow() + 1_000));
    readFails = true;
    await timers.advance(1_001);
    expect(reads).toBe(1);
    await timers.advance(1_000);
    expect(reads).toBe(2);
    await timers.advance(1_999);
    expect(reads).toBe(2);
    await timers.advance(1);
    expect(reads).toBe(3);
    expect(sent).toEqual([]);
    readFails = false;
    records = () => new Map();
    await timers.advance(4_000);
    expect(reads).toBe(4);
    expect(sent).toEqual([{ endpoint: 'a', healthRevision: 3, health: 'unknown', since: REDIS_EPOCH + 8_001 }]);
    await timers.advance(60_000);
    expect(reads).toBe(4);
  });

  it('a read that crosses a published change never undoes it (the later since holds)', async () => {
    records = () => healthyUntil(REDIS_EPOCH + 3_000);
    let release: () => void = () => undefined;
    const slow = new HealthLapses({
      timers,
      read: () => {
        const read = { now: redisNow(), records: records() };
        return new Promise<HealthRead>((resolve) => (release = () => resolve(read)));
      },
      send: (_id, state) => sent.push(state),
      wanted: () => true,
    });
    try {
      const refreshing = slow.refresh(ROUTE);
      await timers.advance(10);
      // Published after the read was taken: unhealthy since then.
      slow.relayed(ROUTE, change('unhealthy', redisNow(), redisNow() + 3_000));
      release();
      expect((await refreshing)?.sent.size).toBe(0);
      expect(sent).toEqual([]);
      expect(slow.known(ROUTE, 'a|3')).toMatchObject({ health: 'unhealthy' });
    } finally {
      slow.close();
    }
  });

  it('the first read of a route sends what is news to the streams; the same health again is not sent', async () => {
    records = () => healthyUntil(REDIS_EPOCH + 3_000);
    const first = await lapses.refresh(ROUTE);
    expect([...(first?.sent ?? [])]).toEqual(['a|3']);
    expect(sent).toEqual([{ endpoint: 'a', healthRevision: 3, health: 'healthy', since: REDIS_EPOCH }]);
    const again = await lapses.refresh(ROUTE);
    expect(again?.sent.size).toBe(0);
    expect(sent).toHaveLength(1);
    // An endpoint unknown with nothing to expire is not remembered (absent is unknown).
    records = () => new Map([['b|3', { verdicts: [verdict('p1', 'unknown')] }]]);
    await lapses.refresh({ ...ROUTE, environment: 'dev' });
    expect(lapses.size).toBe(1);
  });

  it('a route no stream wants is dropped at its deadline without a read, and by prune()', async () => {
    lapses.relayed(ROUTE, change('healthy', redisNow(), redisNow() + 3_000));
    lapses.relayed({ ...ROUTE, environment: 'dev' }, change('healthy', redisNow(), redisNow() + 60_000));
    wanted = false;
    await timers.advance(3_001);
    expect(reads).toBe(0);
    expect(lapses.size).toBe(1);
    lapses.prune();
    expect(lapses.size).toBe(0);
    expect(timers.pending).toEqual([]);
  });

  it('a change from an older writer (no until) makes the route read at once to learn its next expiry', async () => {
    records = () => healthyUntil(REDIS_EPOCH + 5_000);
    lapses.relayed(ROUTE, change('healthy', redisNow()));
    await timers.advance(1);
    expect(reads).toBe(1);
    expect(timers.pending).toEqual([5_001]);
  });
});
