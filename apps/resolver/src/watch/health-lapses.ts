import { routeKey, type Health, type RouteId } from '@tm/contracts';
import { currentHealth, nextLapse, type HealthChange, type HealthRead } from '@tm/route-cache';

/** The clock and timers the schedule runs on (a test gives its own). */
export interface LapseTimers {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  set(callback: () => void, ms: number): unknown;
  clear(timer: unknown): void;
}

export const NODE_TIMERS: LapseTimers = {
  now: () => performance.now(),
  set: (callback, ms) => setTimeout(callback, ms).unref(),
  clear: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

/** One endpoint's health at one health revision, as the streams are sent it (`since`: the Redis server's clock, ms). */
export interface EndpointState {
  endpoint: string;
  healthRevision: number;
  health: Health;
  since: number;
}

export interface HealthLapsesDeps {
  timers: LapseTimers;
  /** The route's health now (rejects when Redis does not answer). */
  read(id: RouteId): Promise<HealthRead>;
  /** Sends the streams that want the route's health this health frame. */
  send(id: RouteId, state: EndpointState): void;
  /** Whether any stream wants the route's health. */
  wanted(id: RouteId): boolean;
}

/** What a read found: the route's health, and the endpoints (`<endpoint>|<healthRevision>`) it sent every stream because it was news. */
export interface Refreshed {
  read: HealthRead;
  sent: ReadonlySet<string>;
}

/** The first retry of a read that failed; it doubles up to MAX_RETRY_MS. */
const RETRY_MS = 1_000;
const MAX_RETRY_MS = 8_000;
/** A read at an expiry comes this long after it: a verdict is fresh while its expiry is ahead. */
const PAST_EXPIRY_MS = 1;

interface Tracked {
  id: RouteId;
  /** The health the streams were last sent, by `<endpoint>|<healthRevision>` (absent: unknown). */
  known: Map<string, { health: Health; since: number }>;
  timer: unknown;
  /** When the timer fires (timers.now()). */
  dueAt: number;
  failures: number;
}

function baseOf(base: string): { id: string; healthRevision: number } {
  const bar = base.lastIndexOf('|');
  return { id: base.slice(0, bar), healthRevision: Number(base.slice(bar + 1)) };
}

/**
 * Health that changes with no write (docs/guarantees.md, "Watch"): verdicts expire, and with them a
 * majority, but only the probers' writes are published. So for each route whose health a stream of
 * this replica wants, this remembers the health the streams were sent and when an expiry may next
 * change it (the first expiry of a verdict that takes a side: what a read or a published change
 * says), reads the route again at that moment, and sends the streams every endpoint whose health
 * is not what they hold. It works with no prober running, on every replica for its own streams.
 *
 * Of two states of one endpoint, the later `since` is the later state (see currentHealth), so a
 * read that crosses a published change never undoes it. A read that fails (Redis down: the
 * resolver's answers have every endpoint unknown anyway) sends nothing and is tried again with
 * backoff: no frame is made up. A route that no stream wants is dropped at its next deadline or
 * at prune(); one whose endpoints are all unknown with no verdict to expire is dropped at once.
 */
export class HealthLapses {
  private readonly routes = new Map<string, Tracked>();

  constructor(private readonly deps: HealthLapsesDeps) {}

  /** Routes tracked now (memory is bounded by the probed routes that streams want). */
  get size(): number {
    return this.routes.size;
  }

  /** A change the probers published, already relayed to the streams: remembered, and the route's next lapse scheduled. */
  relayed(id: RouteId, change: HealthChange): void {
    const tracked = this.track(id);
    const base = `${change.endpoint}|${change.healthRevision}`;
    const known = tracked.known.get(base);
    if (!known || known.since <= change.since) tracked.known.set(base, { health: change.health, since: change.since });
    // An older writer does not say when: read the route to learn it.
    this.schedule(tracked, change.until === undefined ? 0 : change.until - change.since + PAST_EXPIRY_MS);
  }

  /**
   * Reads the route's health now, sends the streams whatever is news to them, and schedules the next
   * read; undefined when Redis did not answer (a retry is scheduled).
   */
  async refresh(id: RouteId): Promise<Refreshed | undefined> {
    let read: HealthRead;
    try {
      read = await this.deps.read(id);
    } catch {
      this.failed(id);
      return undefined;
    }
    return { read, sent: this.apply(id, read) };
  }

  /** The health the streams were last sent for an endpoint (`<endpoint>|<healthRevision>`), if not unknown. */
  known(id: RouteId, base: string): EndpointState | undefined {
    const known = this.routes.get(routeKey(id))?.known.get(base);
    if (!known || known.health === 'unknown') return undefined;
    const { id: endpoint, healthRevision } = baseOf(base);
    return { endpoint, healthRevision, health: known.health, since: known.since };
  }

  /** Drops the routes that no stream wants any more. */
  prune(): void {
    for (const tracked of [...this.routes.values()]) if (!this.deps.wanted(tracked.id)) this.untrack(tracked);
  }

  close(): void {
    for (const tracked of [...this.routes.values()]) this.untrack(tracked);
  }

  private apply(id: RouteId, read: HealthRead): Set<string> {
    const tracked = this.track(id);
    tracked.failures = 0;
    const sent = new Set<string>();
    for (const base of read.records.keys()) {
      const endpoint = baseOf(base);
      if (this.observe(tracked, base, currentHealth(read, endpoint))) sent.add(base);
    }
    // An endpoint the read has nothing of: every verdict and its record are gone (unknown).
    for (const [base, known] of [...tracked.known]) {
      if (read.records.has(base)) continue;
      if (known.health !== 'unknown' && this.observe(tracked, base, { health: 'unknown', since: read.now })) sent.add(base);
      if (tracked.known.get(base)?.health === 'unknown') tracked.known.delete(base);
    }
    const next = nextLapse(read.records);
    if (next !== null) this.schedule(tracked, next - read.now + PAST_EXPIRY_MS);
    else if (![...tracked.known.values()].some((k) => k.health !== 'unknown')) this.untrack(tracked);
    // A health older than this read (a change published meanwhile) with nothing to look at it again.
    else if (tracked.timer === undefined) this.schedule(tracked, RETRY_MS);
    return sent;
  }

  /** Sends the streams an endpoint's health when it is not what they were sent; true if sent. */
  private observe(tracked: Tracked, base: string, state: { health: Health; since: number }): boolean {
    const known = tracked.known.get(base);
    if (known && state.since < known.since) return false;
    if ((known?.health ?? 'unknown') === state.health) {
      if (known) known.since = state.since;
      return false;
    }
    tracked.known.set(base, { health: state.health, since: state.since });
    const { id: endpoint, healthRevision } = baseOf(base);
    this.deps.send(tracked.id, { endpoint, healthRevision, health: state.health, since: state.since });
    return true;
  }

  private failed(id: RouteId): void {
    if (!this.deps.wanted(id)) {
      const tracked = this.routes.get(routeKey(id));
      if (tracked) this.untrack(tracked);
      return;
    }
    const tracked = this.track(id);
    tracked.failures++;
    this.schedule(tracked, Math.min(RETRY_MS * 2 ** (tracked.failures - 1), MAX_RETRY_MS));
  }

  private track(id: RouteId): Tracked {
    const key = routeKey(id);
    let tracked = this.routes.get(key);
    if (!tracked) {
      tracked = { id: { tenant: id.tenant, service: id.service, environment: id.environment }, known: new Map(), timer: undefined, dueAt: 0, failures: 0 };
      this.routes.set(key, tracked);
    }
    return tracked;
  }

  private untrack(tracked: Tracked): void {
    if (tracked.timer !== undefined) this.deps.timers.clear(tracked.timer);
    tracked.timer = undefined;
    this.routes.delete(routeKey(tracked.id));
  }

  /** A read of the route in `delayMs` (differences of the Redis server's times, taken as durations here), unless one is due sooner. */
  private schedule(tracked: Tracked, delayMs: number): void {
    const { timers } = this.deps;
    const delay = Math.max(0, delayMs);
    const dueAt = timers.now() + delay;
    if (tracked.timer !== undefined) {
      if (tracked.dueAt <= dueAt) return;
      timers.clear(tracked.timer);
    }
    tracked.dueAt = dueAt;
    tracked.timer = timers.set(() => this.fire(tracked), delay);
  }

  private fire(tracked: Tracked): void {
    tracked.timer = undefined;
    if (this.routes.get(routeKey(tracked.id)) !== tracked) return;
    if (!this.deps.wanted(tracked.id)) {
      this.untrack(tracked);
      return;
    }
    void this.refresh(tracked.id);
  }
}
