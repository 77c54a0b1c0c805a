import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { pickFrom, rankEndpoints, routeKey, selectionOf, type EndpointView, type RankedEndpoints, type RouteId } from '@tm/contracts';
import { databaseFailure, readRouteAsOf, type RouteSnapshot } from '@tm/persistence';
import { tenantGone } from '@tm/auth';
import { OverloadedException, ProblemException, UnavailableException } from '@tm/platform';
import {
  freshness,
  healthOf,
  HealthStore,
  NO_VOTES,
  REDIS_CLIENT,
  RouteCache,
  votesOf,
  type CachedAnswer,
  type CachedRoute,
  type HealthVotes,
  type Lease,
  type RedisClient,
} from '@tm/route-cache';
import { ResolverConfig } from '../config';
import { CircuitBreaker } from './breaker';
import { DatabaseClock } from './database-clock';
import { LocalRouteCache } from './local-cache';
import { ReadTier } from './read-tier';
import { RESOLVER_HOOKS, type ResolverHooks } from './resolver-hooks';
import { ResolverMetrics } from './resolver.metrics';

export type CacheOutcome = 'HIT' | 'MISS' | 'BYPASS' | 'STALE';

/** The endpoint an answer picked, and every endpoint with its health in selection order. */
export interface Selected {
  /** Undefined: no endpoint is enabled or draining (404 no_enabled_endpoint). */
  url: string | undefined;
  failOpen: boolean;
  endpoints: EndpointView[];
}

export interface Resolution {
  route: CachedRoute | null;
  /** The selection among the route's endpoints (when it exists). */
  selected?: Selected;
  /** X-Consistency-Revision: the store revision the answer reflects. */
  asOf: number;
  cache: CacheOutcome;
  /** Age in seconds (HIT and STALE). */
  age?: number;
  /** Seconds of freshness left (Cache-Control: max-age). */
  maxAge: number;
}

export interface ResolveOptions {
  /** X-Min-Revision: the answer must reflect at least this revision. */
  minRevision?: number;
  /** consistency=strong: skip the cache. */
  strong: boolean;
  /** ?affinity=: a stable weighted pick for this string. */
  affinity?: string;
  /**
   * The id of the tenant the caller's key is bound to: an answer of the slug under another tenant's id
   * (a tenant deleted and created again) is never given to it.
   */
  tenantId?: string | null;
}

/**
 * What one resolve learns on its way: the health votes read with the route, and the answer to offer
 * to memory (a Redis hit or a miss that filled), with when it was known current.
 */
interface Found {
  records: HealthVotes | undefined;
  offer?: { asOf: number; knownAt: number };
}

/** An answer memory holds, ready to send (ResolveService.resolveHeld). */
export interface HeldResolution {
  resolution: Resolution;
  route: CachedRoute;
  selected: Selected;
  url: string;
  outcome: SelectionOutcome | undefined;
  /** performance.now() when it began (ms). */
  started: number;
}

/** tm_resolver_selections_total's outcomes. */
type SelectionOutcome = 'picked' | 'fail_open' | 'no_enabled_endpoint';

/** An answer of a probed route is fresh no longer than its probe interval: health moves faster than the TTL. */
function fitToProbes(resolution: Resolution): void {
  const check = resolution.route?.healthCheck;
  if (check) resolution.maxAge = Math.min(resolution.maxAge, check.intervalSeconds);
}

/** A database read (its snapshot's readAt, the database's time, is when the answer is known current from). */
interface Read {
  snapshot: RouteSnapshot;
}

/**
 * The read path (docs/guarantees.md, "Resolver"; G3 to G6, G8): one Redis round trip on a hit; on a miss
 * one database statement (shared by concurrent misses of the route) and a version-gated fill.
 * Every time in the cache is the database's, and ages are judged on the database's clock (see
 * DatabaseClock): this process's clock never decides whether an answer is fresh.
 */
@Injectable()
export class ResolveService {
  private readonly logger = new Logger('Resolve');
  private readonly cache: RouteCache;
  private readonly healthStore: HealthStore;
  private readonly breaker: CircuitBreaker;
  private readonly inFlight = new Map<string, Promise<Read>>();
  /** The selection of a route of one unprobed endpoint (that endpoint, always). */
  private readonly singles = new WeakMap<CachedRoute, Selected>();
  /** The ranking of a route's endpoints for the health it was ranked with, and the answer of each pick from it. */
  private readonly rankings = new WeakMap<
    CachedRoute,
    { votes: HealthVotes; ranking: RankedEndpoints; picks: Map<EndpointView | undefined, { selected: Selected; outcome: SelectionOutcome }> }
  >();
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly graceMs: number;

  constructor(
    private readonly config: ResolverConfig,
    private readonly dataSource: DataSource,
    private readonly metrics: ResolverMetrics,
    private readonly clock: DatabaseClock,
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
    @Inject(RESOLVER_HOOKS) private readonly hooks: ResolverHooks,
    private readonly local: LocalRouteCache,
    private readonly readTier: ReadTier,
  ) {
    this.cache = new RouteCache(redis, config.CACHE_KEY_PREFIX, config.CACHE_STALE_GRACE_SECONDS * 1000, config.REDIS_COMMAND_TIMEOUT_MS);
    this.healthStore = new HealthStore(redis, config.CACHE_KEY_PREFIX, config.REDIS_COMMAND_TIMEOUT_MS);
    this.breaker = new CircuitBreaker(config.REDIS_BREAKER_THRESHOLD, config.REDIS_BREAKER_OPEN_MS);
    this.ttlMs = config.CACHE_TTL_SECONDS * 1000;
    this.negativeTtlMs = config.CACHE_NEGATIVE_TTL_SECONDS * 1000;
    this.graceMs = config.CACHE_STALE_GRACE_SECONDS * 1000;
  }

  async resolve(id: RouteId, options: ResolveOptions): Promise<Resolution> {
    const started = performance.now();
    const key = routeKey(id);
    const found: Found = { records: undefined };
    const held = this.fromMemory(key, options, found);
    if (held) this.metrics.localHits.inc();
    const resolution = held ?? (await this.answer(id, key, options, found));
    if (resolution.route) {
      // A strong read skips the cache (and its health); a miss may not have found the summary: read it now.
      if (resolution.route.healthCheck && (options.strong || found.records === undefined)) found.records = await this.readHealth(id);
      const { selected, outcome } = this.select(resolution.route, found.records ?? NO_VOTES, options.affinity);
      if (outcome) this.metrics.selections.inc({ outcome });
      resolution.selected = selected;
      fitToProbes(resolution);
    }
    if (found.offer) this.local.offer(key, { route: resolution.route, asOf: found.offer.asOf, knownAt: found.offer.knownAt, health: resolution.route?.healthCheck ? found.records : undefined });
    this.counted(resolution, started);
    return resolution;
  }

  /**
   * The hot path's resolve (ResolveFastPath): a route memory holds, with an endpoint to give, decided
   * with no I/O and no await, and nothing counted yet (countHeld, once it is answered). Undefined
   * otherwise: the full path then answers (misses, 404s, sessions, strong reads, affinity).
   */
  resolveHeld(id: RouteId, key: string, tenantId: string | null): HeldResolution | undefined {
    const started = performance.now();
    const found: Found = { records: undefined };
    const resolution = this.fromMemory(key, { strong: false, tenantId }, found);
    if (!resolution?.route) return undefined;
    const { selected, outcome } = this.select(resolution.route, found.records ?? NO_VOTES, undefined);
    if (selected.url === undefined) return undefined;
    resolution.selected = selected;
    fitToProbes(resolution);
    return { resolution, route: resolution.route, selected, url: selected.url, outcome, started };
  }

  /** A held resolution was answered: counted as resolve() counts its answers. */
  countHeld(held: HeldResolution): void {
    if (held.outcome) this.metrics.selections.inc({ outcome: held.outcome });
    this.metrics.localHits.inc();
    this.counted(held.resolution, held.started);
  }

  private counted(resolution: Resolution, started: number): void {
    this.metrics.duration.observe({ cache: resolution.cache }, (performance.now() - started) / 1000);
    this.metrics.answers.inc({ cache: resolution.cache, status: resolution.route && resolution.selected?.url !== undefined ? '200' : '404' });
  }

  /**
   * The selection (docs/guarantees.md, "Traffic policies and health"): a route of one unprobed
   * endpoint is that endpoint; any other goes through selectEndpoint with its endpoints' health.
   */
  private select(route: CachedRoute, records: HealthVotes, affinity: string | undefined): { selected: Selected; outcome?: SelectionOutcome } {
    const only = route.endpoints.length === 1 ? route.endpoints[0] : undefined;
    if (only && !route.healthCheck && only.state !== 'disabled') {
      // The same for every answer of the route: made once (the front door keeps its body beside it).
      let selected = this.singles.get(route);
      if (selected === undefined) {
        selected = { url: only.url, failOpen: false, endpoints: [{ id: only.id, url: only.url, priority: only.priority, weight: only.weight, state: only.state, health: 'unknown' }] };
        this.singles.set(route, selected);
      }
      return { selected };
    }
    // The ranking depends on the route and its health only: a route held in memory is ranked once per health it has.
    let ranked = this.rankings.get(route);
    if (ranked === undefined || ranked.votes !== records) {
      const views: EndpointView[] = route.endpoints.map((e) => ({
        id: e.id,
        url: e.url,
        priority: e.priority,
        weight: e.weight,
        state: e.state,
        health: route.healthCheck ? healthOf(records, e) : 'unknown',
      }));
      ranked = { votes: records, ranking: rankEndpoints(views), picks: new Map() };
      this.rankings.set(route, ranked);
    }
    const pick = pickFrom(ranked.ranking, affinity === undefined ? { random: Math.random() } : { affinity });
    // The answer follows from the pick (it first, then the ranking): one per endpoint picked, made once.
    let answer = ranked.picks.get(pick);
    if (answer === undefined) {
      const selection = selectionOf(ranked.ranking, pick);
      answer = {
        selected: { url: selection.pick?.url, failOpen: selection.failOpen, endpoints: selection.order },
        outcome: !selection.pick ? 'no_enabled_endpoint' : selection.failOpen ? 'fail_open' : 'picked',
      };
      ranked.picks.set(pick, answer);
    }
    return answer;
  }

  /** Health read on its own (a strong read, or a miss without it): from Redis when it answers, else every endpoint unknown. */
  private async readHealth(id: RouteId): Promise<HealthVotes> {
    if (!this.breaker.allows()) return NO_VOTES;
    try {
      const records = await this.healthStore.read(id);
      this.redisSucceeded();
      return votesOf(records);
    } catch (e) {
      this.redisFailed(e);
      return NO_VOTES;
    }
  }

  /**
   * The answer this replica holds in memory (LocalRouteCache), while Redis is usable: with Redis down
   * answers come from the database (BYPASS), as without memory. Undefined: ask Redis.
   */
  private fromMemory(key: string, options: ResolveOptions, found: Found): Resolution | undefined {
    if (options.strong || !this.local.enabled || !this.redis.isReady || !this.breaker.isClosed) return undefined;
    const held = this.local.get(key, options.minRevision);
    if (held === undefined) return undefined;
    if (held.route && options.tenantId && held.route.tenantId !== undefined && held.route.tenantId !== options.tenantId) return undefined;
    const { leftMs, ageMs } = freshness({ route: held.route, asOf: held.asOf, knownAt: held.knownAt, invalidated: false }, { ttlMs: this.ttlMs, negativeTtlMs: this.negativeTtlMs }, this.clock.now());
    if (leftMs <= 0) return undefined;
    found.records = held.health;
    return { route: held.route, asOf: held.asOf, cache: 'HIT', age: Math.floor(ageMs / 1000), maxAge: Math.floor(leftMs / 1000) };
  }

  private async answer(id: RouteId, key: string, options: ResolveOptions, found: Found): Promise<Resolution> {
    let cached: CachedAnswer | undefined;
    let redisUsable = !options.strong && this.breaker.allows();
    if (redisUsable) {
      try {
        const read = await this.cache.readWithHealth(id);
        cached = read.entry;
        found.records = read.health;
        this.redisSucceeded();
      } catch (e) {
        this.redisFailed(e);
        redisUsable = false;
      }
    }
    const now = this.clock.now();
    // A cached route of another tenant under this slug (the caller's was deleted, or this is a new
    // tenant's and the entry predates it) is never served to this key: the database says whose it is.
    if (cached?.route && options.tenantId && cached.route.tenantId !== undefined && cached.route.tenantId !== options.tenantId) cached = undefined;
    // An entry behind a change this replica's feed has already delivered is not served: the database
    // is read (and the fill brings Redis forward) instead of waiting for the worker's event.
    if (cached && this.local.changedSince(key, cached.asOf)) cached = undefined;
    if (cached && (options.minRevision === undefined || cached.asOf >= options.minRevision)) {
      const { leftMs, ageMs } = freshness(cached, { ttlMs: this.ttlMs, negativeTtlMs: this.negativeTtlMs }, now);
      if (leftMs > 0) {
        found.offer = { asOf: cached.asOf, knownAt: cached.knownAt };
        return { route: cached.route, asOf: cached.asOf, cache: 'HIT', age: Math.floor(ageMs / 1000), maxAge: Math.floor(leftMs / 1000) };
      }
    }

    let read: Read;
    try {
      read = await this.read(id, options, redisUsable || (options.strong && this.breaker.allows()));
    } catch (e) {
      const failure = databaseFailure(this.dataSource, e);
      // Overload (a saturated pool, too many connections) is not an outage: 503, never STALE.
      if (failure === 'overloaded') throw new OverloadedException('PostgreSQL');
      if (failure !== 'unreachable') throw e;
      // PostgreSQL is down: an entry known current less than the stale grace ago is served as STALE.
      // (Its Redis key's expiry is not enough: events in invalidate mode keep refreshing it.)
      // An entry stamped in the future (a database clock stepped back) is as good as current here.
      const withinGrace = cached !== undefined && now - cached.knownAt <= this.graceMs;
      if (!options.strong && cached && withinGrace && (options.minRevision === undefined || cached.asOf >= options.minRevision)) {
        return { route: cached.route, asOf: cached.asOf, cache: 'STALE', age: Math.floor(Math.max(0, now - cached.knownAt) / 1000), maxAge: 0 };
      }
      throw new UnavailableException('PostgreSQL');
    }
    const { snapshot } = read;
    if (options.minRevision !== undefined && snapshot.asOf < options.minRevision) {
      throw new ProblemException(412, 'Precondition Failed', `the store is at revision ${snapshot.asOf}, before ${options.minRevision}`, {
        code: 'min_revision_ahead',
      });
    }
    if (snapshot.route && options.tenantId && snapshot.route.tenantId !== options.tenantId) throw tenantGone(id.tenant);
    const route: CachedRoute | null = snapshot.route
      ? { url: snapshot.route.url, revision: snapshot.route.revision, endpoints: snapshot.route.endpoints, healthCheck: snapshot.route.healthCheck, tenantId: snapshot.route.tenantId }
      : null;
    // Freshness counts from when the read started (a shared or slow read is already that old).
    const { leftMs } = freshness(
      { route, asOf: snapshot.asOf, knownAt: snapshot.readAt, invalidated: false },
      { ttlMs: this.ttlMs, negativeTtlMs: this.negativeTtlMs },
      this.clock.now(),
    );
    const cache = options.strong || !redisUsable ? 'BYPASS' : 'MISS';
    if (cache === 'MISS') found.offer = { asOf: snapshot.asOf, knownAt: snapshot.readAt };
    return {
      route,
      asOf: snapshot.asOf,
      cache,
      maxAge: Math.max(0, Math.floor(leftMs / 1000)),
    };
  }

  /**
   * One database read per route at a time in this process: concurrent misses share it (from its
   * lease to its answer, not its fill: a read that joins must not get an older snapshot than it
   * needs). A strong read never joins a read already running: that read started before the strong
   * one arrived and can miss a write answered in between; it starts its own, which later misses
   * then join. The request that starts a read offers the answer to the cache (when `fill`: Redis is
   * usable for that request).
   */
  private async read(id: RouteId, { minRevision, strong }: ResolveOptions, fill: boolean): Promise<Read> {
    const key = routeKey(id);
    const running = this.inFlight.get(key);
    if (running && !strong) {
      this.metrics.singleFlightJoins.inc();
      const shared = await running;
      // A read that started before the store reached the caller's minimum may not be enough.
      if (minRevision === undefined || shared.snapshot.asOf >= minRevision) return shared;
      return this.readAndFill(id, fill, { minRevision, strong });
    }
    return this.readAndFill(id, fill, { minRevision, strong }, key);
  }

  private async readAndFill(id: RouteId, fill: boolean, options: Pick<ResolveOptions, 'minRevision' | 'strong'>, share?: string): Promise<Read> {
    const reading = this.readOnce(id, fill, options);
    if (share !== undefined) {
      this.inFlight.set(share, reading);
      // A strong read may have replaced this one as the read to join meanwhile: only its own entry goes.
      reading
        .finally(() => {
          if (this.inFlight.get(share) === reading) this.inFlight.delete(share);
        })
        .catch(() => undefined);
    }
    const read = await reading;
    if (read.lease) await this.fill(id, read.snapshot, read.lease);
    return read;
  }

  /**
   * Takes the fill's lease (before the database read: see the scripts), then reads the route, the
   * revision clock and the database's time. A lease that could not be taken means no fill. A read of
   * the primary is also a sample of the database's clock. With read replicas (ReadTier) the read goes
   * to a replica that has replayed the primary's revision read after the lease (and the caller's
   * minimum): its snapshot's time is then that primary read's, never the replica's clock.
   */
  private async readOnce(id: RouteId, fill: boolean, { minRevision, strong }: Pick<ResolveOptions, 'minRevision' | 'strong'>): Promise<Read & { lease?: Lease }> {
    const began = this.clock.localNow();
    let lease: Lease | undefined;
    if (fill) {
      try {
        lease = await this.cache.prepare(id);
        this.redisSucceeded();
      } catch (e) {
        this.metrics.fills.inc({ outcome: 'failed' });
        this.redisFailed(e);
      }
    }
    this.metrics.databaseReads.inc();
    this.hooks.onDatabaseRead?.(id);
    const answer = await this.readTier.read(
      strong ? 'strong' : 'miss',
      minRevision === undefined ? { after: began } : { after: began, minRevision },
      (query) => readRouteAsOf(query, id),
      (s) => s.asOf,
      async () => {
        const sentAt = this.clock.localNow();
        const read = await readRouteAsOf((sql, params) => this.dataSource.query(sql, params), id);
        this.clock.sample(sentAt, read.readAt);
        return read;
      },
    );
    const snapshot = answer.proof ? { ...answer.value, readAt: answer.proof.knownCurrentAt } : answer.value;
    await this.hooks.afterDatabaseRead?.(id, snapshot);
    return lease ? { snapshot, lease } : { snapshot };
  }

  private async fill(id: RouteId, snapshot: RouteSnapshot, lease: Lease): Promise<void> {
    await this.hooks.beforeFill?.(id, snapshot);
    try {
      const outcome = await this.cache.fill({ id, route: snapshot.route, asOf: snapshot.asOf, knownAt: snapshot.readAt, lease });
      this.metrics.fills.inc({ outcome });
      this.redisSucceeded();
    } catch (e) {
      this.metrics.fills.inc({ outcome: 'failed' });
      this.redisFailed(e);
    }
  }

  private redisSucceeded(): void {
    this.breaker.succeeded();
    this.metrics.breakerOpen.set(0);
  }

  private redisFailed(e: unknown): void {
    this.metrics.redisErrors.inc();
    this.breaker.failed();
    this.metrics.breakerOpen.set(this.breaker.isOpen ? 1 : 0);
    this.logger.debug(`redis: ${e instanceof Error ? e.message : String(e)}`);
  }
}
