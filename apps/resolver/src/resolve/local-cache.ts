import type { CachedRoute, HealthVotes } from '@tm/route-cache';

/**
 * Memory answers only while the feed's last proof is younger than this: a write is then in every
 * answer within this long (plus the feed's read) even when the feed stalls: well inside G4's 1 s.
 */
export const LOCAL_PROOF_MAX_AGE_MS = 750;

/** The feed's proof (see ChangeFeed): every change up to `revision` has been delivered, and the store was at `revision` at `knownCurrentAt`. */
export interface FeedProof {
  revision: number;
  /** The database's clock (ms since the epoch). */
  knownCurrentAt: number;
  /** This process's monotonic clock (LOCAL_CLOCK) when the proving read was sent. */
  establishedAt: number;
}

/** An answer this replica holds in memory. */
export interface LocalAnswer {
  route: CachedRoute | null;
  /** The store revision the answer reflects: the entry's own, or the feed's proof when that is later. */
  asOf: number;
  /** When that state was known current (the database's clock). */
  knownAt: number;
  /** The health votes of a probed route (undefined for a route that is not probed, or a negative answer). */
  health: HealthVotes | undefined;
}

interface Entry {
  route: CachedRoute | null;
  asOf: number;
  knownAt: number;
  health: HealthVotes | undefined;
  /** LOCAL_CLOCK time until which `health` may be used without asking Redis again (probed routes). */
  healthUntil: number;
}

export interface LocalCacheOptions {
  /** CACHE_LOCAL_MAX_ROUTES: routes held at most (0: the local cache is off). */
  maxRoutes: number;
  /**
   * The feed's proof must be younger than this (LOCAL_CLOCK ms) for memory to answer: a feed that
   * cannot read the outbox (PostgreSQL down, or slow) hands the answers back to Redis, where the
   * stale grace and the worker's events apply as before.
   */
  maxProofAgeMs: number;
  /** CACHE_LOCAL_HEALTH_MS: how long a probed route's health votes are used before Redis is asked again (expiries publish nothing); 0: never held. */
  healthMs: number;
}

/**
 * The resolver's memory of answers (docs/cache-protocol.md, "The resolver's memory"): a copy of what
 * Redis or the database answered, kept exactly as long as this replica's change feed proves it
 * current. The feed delivers every committed change in revision order; a change to a route removes
 * its entry, so an entry that is still here reflects its route as of the feed's proof, and is
 * answered with the proof's revision and time (G3: never older than the proof, which is at most
 * `maxProofAgeMs` old). An answer read before a change the feed has already delivered is never
 * taken (`changedAt`); one read before the feed started (or before its last gap) cannot be checked
 * and is not taken either. A hit costs a Map lookup: no Redis round trip.
 *
 * Health is not a revisioned change: probed routes keep their votes for `healthMs` at most, and
 * lose them at once when a prober publishes a change of the route's health (or pub/sub lost
 * messages, which drops every probed route's).
 */
export class LocalRouteCache {
  private readonly entries = new Map<string, Entry>();
  /** The revision of the last change the feed delivered of each route changed since `floor`. */
  private readonly changedAt = new Map<string, number>();
  /** Every change after this revision is in `changedAt`; an answer as of an earlier revision cannot be checked. */
  private floor = Number.POSITIVE_INFINITY;
  private proof: FeedProof | undefined;

  constructor(
    private readonly options: LocalCacheOptions,
    private readonly clock: () => number,
  ) {}

  get enabled(): boolean {
    return this.options.maxRoutes > 0;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Whether memory answers at all now: on, and the feed's last proof young enough. */
  answering(): boolean {
    return this.enabled && this.proof !== undefined && this.clock() - this.proof.establishedAt <= this.options.maxProofAgeMs;
  }

  /** The answer memory holds for `key`, or undefined (not held, health expired, or the feed's proof is too old). */
  get(key: string, minRevision: number | undefined): LocalAnswer | undefined {
    const entry = this.entries.get(key);
    const proof = this.proof;
    if (entry === undefined || proof === undefined) return undefined;
    const now = this.clock();
    if (now - proof.establishedAt > this.options.maxProofAgeMs) return undefined;
    if (entry.route?.healthCheck && now >= entry.healthUntil) return undefined;
    const proven = proof.revision >= entry.asOf;
    const asOf = proven ? proof.revision : entry.asOf;
    if (minRevision !== undefined && asOf < minRevision) return undefined;
    return { route: entry.route, asOf, knownAt: proven ? Math.max(proof.knownCurrentAt, entry.knownAt) : entry.knownAt, health: entry.health };
  }

  /**
   * Whether the feed has delivered a change of `key` after `asOf`: an answer as of `asOf` is then
   * behind a change this replica knows of.
   */
  changedSince(key: string, asOf: number): boolean {
    const changed = this.changedAt.get(key);
    return changed !== undefined && changed > asOf;
  }

  /**
   * Offers an answer read from Redis or the database (`asOf`, known current at `knownAt`). Taken
   * only when the feed can vouch for it: no change of the route after `asOf` has been delivered,
   * and every change after `asOf` would have been seen.
   */
  offer(key: string, answer: { route: CachedRoute | null; asOf: number; knownAt: number; health: HealthVotes | undefined }): void {
    if (!this.enabled || this.proof === undefined || answer.asOf < this.floor || this.changedSince(key, answer.asOf)) return;
    if (!this.entries.has(key) && this.entries.size >= this.options.maxRoutes) {
      // The oldest taken goes first (Map keeps insertion order).
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { ...answer, healthUntil: this.clock() + this.options.healthMs });
  }

  /**
   * The feed starts after `revision` (it read the changes since from the outbox before its first
   * proof, and hands them to `changed`): answers as of `revision` or later can be checked.
   */
  start(revision: number): void {
    if (this.floor === Number.POSITIVE_INFINITY) this.floor = revision;
  }

  /**
   * The feed delivered these changes (in revision order). A route memory holds is replaced by its
   * state at the change when the change can say it (`state`: the route, null when deleted; undefined
   * for a probed route, whose health the change does not carry), else dropped. Routes memory does
   * not hold are not added (memory holds what is read).
   */
  changed(changes: readonly { key: string; revision: number; knownAt?: number; state?: () => CachedRoute | null | undefined }[]): void {
    if (!this.enabled) return;
    for (const { key, revision, knownAt, state } of changes) {
      this.changedAt.set(key, revision);
      const route = knownAt !== undefined && state !== undefined && this.entries.has(key) ? state() : undefined;
      if (route === undefined || knownAt === undefined) this.entries.delete(key);
      else this.entries.set(key, { route, asOf: revision, knownAt, health: undefined, healthUntil: 0 });
    }
    // Bounded: past as many routes as memory holds, start checking afresh from the last change.
    if (this.changedAt.size > Math.max(this.options.maxRoutes, 1_000)) {
      const last = changes[changes.length - 1];
      this.changedAt.clear();
      if (last) this.floor = Math.max(this.floor === Number.POSITIVE_INFINITY ? 0 : this.floor, last.revision);
    }
  }

  /** The feed proved its progress. The first proof opens the cache: answers as of its revision or later can be checked. */
  progressed(proof: FeedProof): void {
    if (!this.enabled) return;
    if (this.floor === Number.POSITIVE_INFINITY) this.floor = proof.revision;
    this.proof = proof;
  }

  /** The feed lost changes (a gap): nothing held can be vouched for; answers after `revision` can again. */
  lost(revision: number): void {
    this.entries.clear();
    this.changedAt.clear();
    this.floor = revision;
  }

  /** Health changes heard (tests wait for one). */
  healthMessages = 0;

  /** A prober published a change of the route's health: its votes are no longer current. */
  healthChanged(key: string): void {
    this.healthMessages++;
    const entry = this.entries.get(key);
    if (entry?.route?.healthCheck) this.entries.delete(key);
  }

  /** Health messages may have been missed: every probed route's votes go. */
  healthLost(): void {
    for (const [key, entry] of this.entries) if (entry.route?.healthCheck) this.entries.delete(key);
  }
}
