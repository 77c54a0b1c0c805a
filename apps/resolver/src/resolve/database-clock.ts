/**
 * A clock of this process that only moves forward at a steady rate (ms): the time origin plus
 * `performance.now()`. Steps of the wall clock (NTP, an operator) do not move it, so an offset to
 * the database's clock measured with it stays true between samples. Tests bind one of their own.
 */
export type LocalClock = () => number;

export const LOCAL_CLOCK = Symbol('LOCAL_CLOCK');

export const monotonicClock: LocalClock = () => performance.timeOrigin + performance.now();

/** Samples of one second are kept as one (their least offset). */
const BUCKET_MS = 1_000;

interface Sample {
  /** Local time the sample (the first of its second) was taken. */
  at: number;
  /** Database time minus local time when the statement was sent: never below the true offset. */
  offsetMs: number;
}

/**
 * The database's clock as this process can know it. Every time a cache entry carries is the
 * database's: a fill's is the statement time of its read, an event's is its write's commit time. So
 * their ages are judged against the database's clock too, not this process's: a resolver whose
 * clock is ahead or behind serves a HIT exactly as long as one with the right time.
 *
 * A statement sent at local time t0 whose database time is T (statement_timestamp()) gives an offset
 * T - t0 that cannot be below the true one (T was read after t0). `now()` uses the least of the
 * samples of the last `windowMs`: an upper bound of the database's time, too high by at most the
 * fastest sample's round trip, so ages are overestimated (an entry expires early, never late). When
 * the database's clock steps back, the next sample lowers the bound at once; when it steps forward,
 * entries stamped after the step look as if from the future (not fresh: read again) until the
 * older samples leave the window.
 */
export class DatabaseClock {
  /** One sample per second at most (the least offset of that second), oldest first. */
  private samples: Sample[] = [];

  constructor(
    private readonly local: LocalClock = monotonicClock,
    private readonly windowMs = 15_000,
  ) {}

  /** The local time to take before sending a statement whose database time is then `sample`d. */
  localNow(): number {
    return this.local();
  }

  /** A statement sent at local time `sentAt` ran at database time `databaseTime` (ms since the epoch). */
  sample(sentAt: number, databaseTime: number): void {
    if (!Number.isFinite(databaseTime) || !Number.isFinite(sentAt)) return;
    const at = this.local();
    const offsetMs = databaseTime - sentAt;
    const last = this.samples[this.samples.length - 1];
    if (last && at - last.at < BUCKET_MS) {
      last.offsetMs = Math.min(last.offsetMs, offsetMs);
      return;
    }
    while (this.samples.length > 0 && at - (this.samples[0] as Sample).at > this.windowMs) this.samples.shift();
    this.samples.push({ at, offsetMs });
  }

  /** Whether a sample was ever taken: before that, `now()` is this process's wall clock. */
  get synchronized(): boolean {
    return this.samples.length > 0;
  }

  /**
   * Database time minus this process's wall clock (ms; 0 before any sample): what the operators'
   * metric shows, a skew of the two machines' clocks.
   */
  offsetFromWallClock(): number {
    return this.synchronized ? this.now() - Date.now() : 0;
  }

  /** The database's time now (ms since the epoch), never below the true one (see above). */
  now(): number {
    const local = this.local();
    let offset = Infinity;
    for (const s of this.samples) if (local - s.at <= this.windowMs && s.offsetMs < offset) offset = s.offsetMs;
    // Samples out of the window still bound the offset while no newer one comes (the database
    // down): the latest of them is used then.
    if (offset === Infinity) {
      const last = this.samples[this.samples.length - 1];
      if (!last) return Date.now();
      offset = last.offsetMs;
    }
    return local + offset;
  }
}
