import { seededRandom } from '@tm/contracts';
import { ProbeScheduler, type Schedulable } from './probe-scheduler';

interface Target extends Schedulable {
  /** How long its probe takes (fake time, ms). */
  durationMs: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const INTERVAL_MS = 10_000;
const TIMEOUT_MS = 10_000;
/** A verdict lives 3 intervals plus the timeout (prober.service.ts): a gap between probes longer than this lets it expire. */
const VERDICT_LIFETIME_MS = 3 * INTERVAL_MS + TIMEOUT_MS;
const MAX_IN_FLIGHT = 64;
const SIMULATED_MS = 5 * 60_000;

function targets(tenant: string, count: number, durationMs: (i: number) => number): Target[] {
  return Array.from({ length: count }, (_, i) => ({ key: `${tenant}/${i}`, tenant, intervalMs: INTERVAL_MS, durationMs: durationMs(i) }));
}

/** Honest endpoints answer in 5 to 50 ms; hostile ones hang for the whole timeout. */
const honest = () => targets('honest', 200, (i) => 5 + ((i * 7) % 46));
const hostile = (count = 256) => targets('hostile', count, () => TIMEOUT_MS);

/** What a simulation saw: each honest target's probe starts (ms from the simulation's start), and the most hostile probes ever in flight at once. */
interface Run {
  starts: Map<string, number[]>;
  hostilePeak: number;
  honestWaitedMs: number[];
}

/** The worst gap between two probes of one honest target (the first counted from its start at 0: a verdict must come as soon). */
function worstGap(run: Run): number {
  let worst = 0;
  for (const times of run.starts.values()) {
    let previous = 0;
    for (const t of times) {
      worst = Math.max(worst, t - previous);
      previous = t;
    }
    worst = Math.max(worst, SIMULATED_MS - previous);
  }
  return worst;
}

async function simulate(all: Target[], pool: 'fair' | 'first-come'): Promise<Run> {
  const run: Run = { starts: new Map(), hostilePeak: 0, honestWaitedMs: [] };
  const t0 = Date.now();
  let hostileInFlight = 0;
  const probe = async (t: Target, release: () => void) => {
    if (t.tenant === 'honest') run.starts.set(t.key, [...(run.starts.get(t.key) ?? []), Date.now() - t0]);
    else run.hostilePeak = Math.max(run.hostilePeak, ++hostileInFlight);
    await sleep(t.durationMs);
    if (t.tenant !== 'honest') hostileInFlight--;
    release();
  };
  const random = seededRandom(42);
  if (pool === 'fair') {
    const scheduler = new ProbeScheduler<Target>(probe, {
      maxInFlight: MAX_IN_FLIGHT,
      now: () => Date.now(),
      random,
      observer: { started: (tenant, waitedMs) => tenant === 'honest' && run.honestWaitedMs.push(waitedMs) },
    });
    for (const t of all) scheduler.add(t);
    await jest.advanceTimersByTimeAsync(SIMULATED_MS);
    expect(scheduler.share).toBe(MAX_IN_FLIGHT / new Set(all.map((t) => t.tenant)).size);
    await stopAll(scheduler);
  } else {
    const pool = new FirstComePool(MAX_IN_FLIGHT, probe, random);
    for (const t of all) pool.add(t);
    await jest.advanceTimersByTimeAsync(SIMULATED_MS);
    pool.stop();
  }
  return run;
}

async function stopAll(scheduler: ProbeScheduler<Target>): Promise<void> {
  const stopped = scheduler.stop();
  // The probes running end (the longest here takes 25 s).
  await jest.advanceTimersByTimeAsync(30_000);
  await stopped;
}

/**
 * The prober's pool before the scheduler (kept to show what the test catches): one first-come
 * queue of PROBE_MAX_IN_FLIGHT slots for every tenant, each slot held for the whole probe.
 */
class FirstComePool {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly max: number,
    private readonly probe: (t: Target, release: () => void) => Promise<void>,
    private readonly random: () => number,
  ) {}

  add(t: Target): void {
    this.schedule(t, this.random() * t.intervalMs);
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
  }

  private schedule(t: Target, delayMs: number): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.run(t);
    }, delayMs);
    this.timers.add(timer);
  }

  private async run(t: Target): Promise<void> {
    const began = Date.now();
    const periodMs = t.intervalMs * (0.95 + this.random() * 0.1);
    if (this.running < this.max) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    await this.probe(t, () => undefined);
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
    this.schedule(t, Math.max(0, periodMs - (Date.now() - began)));
  }
}

describe('ProbeScheduler (fake clock, fake probes)', () => {
  beforeEach(() => jest.useFakeTimers({ now: 0 }));
  afterEach(() => jest.useRealTimers());

  describe('one hostile tenant whose 256 endpoints hang for their whole timeout, beside 200 honest endpoints (10 s interval, 64 slots, 5 minutes)', () => {
    it('no honest probe waits for a slot, so no honest verdict can expire; the hostile tenant never runs more than its share', async () => {
      const run = await simulate([...honest(), ...hostile()], 'fair');
      const gap = worstGap(run);
      // Each honest endpoint was probed about every interval (30 times in 5 minutes, give or take the jitter).
      for (const times of run.starts.values()) expect(times.length).toBeGreaterThanOrEqual(28);
      expect(run.starts.size).toBe(200);
      expect(Math.max(...run.honestWaitedMs)).toBe(0);
      expect(gap).toBeLessThan(VERDICT_LIFETIME_MS);
      // Not even late: one interval and its 5% jitter at most.
      expect(gap).toBeLessThanOrEqual(1.05 * INTERVAL_MS);
      // Its share of 64 slots between two tenants: 32, which it fills (the cap is what held it).
      expect(run.hostilePeak).toBe(MAX_IN_FLIGHT / 2);
    });

    it('the same gaps as without the hostile tenant', async () => {
      const alone = worstGap(await simulate(honest(), 'fair'));
      const beside = worstGap(await simulate([...honest(), ...hostile()], 'fair'));
      expect(alone).toBeLessThanOrEqual(1.05 * INTERVAL_MS);
      expect(beside).toBeLessThanOrEqual(1.05 * INTERVAL_MS);
    });

    it('with the old first-come pool, honest probes wait behind the hanging ones until honest verdicts expire (what the scheduler fixes)', async () => {
      const run = await simulate([...honest(), ...hostile()], 'first-come');
      expect(worstGap(run)).toBeGreaterThan(VERDICT_LIFETIME_MS);
      expect(run.hostilePeak).toBe(MAX_IN_FLIGHT);
    });
  });

  /** A scheduler over `maxInFlight` slots whose probes take their target's duration, recording each start. */
  function harness(maxInFlight: number) {
    const starts: [string, number][] = [];
    const scheduler = new ProbeScheduler<Target>(
      async (t, release) => {
        starts.push([t.key, Date.now()]);
        await sleep(t.durationMs);
        release();
      },
      // No jitter: every interval exactly, the first probe half an interval in.
      { maxInFlight, now: () => Date.now(), random: () => 0.5 },
    );
    const startsOf = (key: string) => starts.filter(([k]) => k === key).map(([, at]) => at);
    return { scheduler, starts, startsOf };
  }
  const target = (tenant: string, i: number, durationMs: number, intervalMs = INTERVAL_MS): Target => ({ key: `${tenant}/${i}`, tenant, intervalMs, durationMs });

  it('gives free slots to the tenants in turn, not to the first come', async () => {
    const { scheduler, starts } = harness(2);
    // Three tenants of three targets each, all due at 5 s (a's first), each probe 1 s; 2 slots.
    for (const tenant of ['a', 'b', 'c']) for (let i = 0; i < 3; i++) scheduler.add(target(tenant, i, 1_000));
    // More tenants than slots: a share of one each.
    expect(scheduler.share).toBe(1);
    await jest.advanceTimersByTimeAsync(9_000);
    expect(starts.map(([k]) => k)).toEqual(['a/0', 'b/0', 'c/0', 'a/1', 'b/1', 'c/1', 'a/2', 'b/2', 'c/2']);
    expect(starts.map(([, at]) => at)).toEqual([5_000, 5_000, 6_000, 6_000, 7_000, 7_000, 8_000, 8_000, 9_000]);
    await stopAll(scheduler);
  });

  it('a probe that waited for a slot is followed one interval after it became due, not after it ran', async () => {
    const { scheduler, startsOf } = harness(1);
    // Both due at 5 s; the first holds the only slot for 4 s.
    scheduler.add(target('a', 0, 4_000));
    scheduler.add(target('a', 1, 10));
    await jest.advanceTimersByTimeAsync(40_000);
    expect(startsOf('a/0')).toEqual([5_000, 15_000, 25_000, 35_000]);
    expect(startsOf('a/1')).toEqual([9_000, 19_000, 29_000, 39_000]);
    await stopAll(scheduler);
  });

  it('a probe longer than its interval is followed at once, never by a pile of them', async () => {
    const { scheduler, startsOf } = harness(4);
    scheduler.add(target('a', 0, 25_000));
    await jest.advanceTimersByTimeAsync(80_000);
    // One at a time: at 5 s, then as each ends (30 s, 55 s, 80 s).
    expect(startsOf('a/0')).toEqual([5_000, 30_000, 55_000, 80_000]);
    expect(scheduler.tenantLoad('a')).toEqual({ inFlight: 1, waiting: 0 });
    await stopAll(scheduler);
  });

  it('the share follows the tenants that have targets; a removed target is probed no more and its tenant is dropped', async () => {
    const gone: string[] = [];
    const probed: string[] = [];
    const scheduler = new ProbeScheduler<Target>(
      async (t, release) => {
        probed.push(t.key);
        await sleep(t.durationMs);
        release();
      },
      { maxInFlight: 10, now: () => Date.now(), random: () => 0.5, observer: { gone: (t) => gone.push(t) } },
    );
    scheduler.add(target('a', 0, 10));
    expect(scheduler.share).toBe(10);
    scheduler.add(target('b', 0, 10));
    scheduler.add(target('c', 0, 10));
    expect(scheduler.share).toBe(3);
    scheduler.remove('c/0');
    expect(scheduler.share).toBe(5);
    expect(gone).toEqual(['c']);
    await jest.advanceTimersByTimeAsync(30_000);
    expect(probed).not.toContain('c/0');
    expect(probed.filter((k) => k === 'a/0')).toHaveLength(3);
    await stopAll(scheduler);
  });

  it('stop waits for the probes running and starts no other', async () => {
    const { scheduler, starts } = harness(2);
    scheduler.add(target('a', 0, 3_000));
    await jest.advanceTimersByTimeAsync(6_000);
    let done = false;
    const stopped = scheduler.stop().then(() => (done = true));
    await jest.advanceTimersByTimeAsync(1_000);
    expect(done).toBe(false);
    await jest.advanceTimersByTimeAsync(2_000);
    await stopped;
    expect(done).toBe(true);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(starts).toHaveLength(1);
  });
});
