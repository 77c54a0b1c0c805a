import { randomBytes } from 'node:crypto';
import { ErrorReply } from 'redis';
import type { RouteEventData, RouteId } from '@tm/contracts';
import { withDeadline } from './deadline';
import { encodePolicy, parseEntry, routeCacheKey, type CachedAnswer, type RouteToCache } from './entry';
import { healthKey, healthSummaryKey, parseSummary, type HealthVotes } from './health-store';
import type { RedisClient } from './redis.module';

export type InvalidationMode = 'refresh' | 'invalidate';

/** What a fill is tied to (PREPARE, before its database read): see scripts.ts. */
export interface Lease {
  id: string;
  /** The run id of the Redis process that holds the lease. */
  node: string;
}

export interface Fill {
  id: RouteId;
  route: RouteToCache | null;
  asOf: number;
  /** When the snapshot was known current: the time the database read started. */
  knownAt: number;
  /** Taken by prepare() before the database read began. */
  lease: Lease;
}

/**
 * accepted: the cache took it; rejected: older than the entry or the fence; refused: the lease is
 * gone or the node changed since prepare() (Redis lost data, or a newer fill of the route took
 * the lease).
 */
export type FillOutcome = 'accepted' | 'rejected' | 'refused';

/** How long a lease alone (a key that holds no answer yet) is kept: longer than any database read. */
const LEASE_MS = 60_000;

export interface EventToApply {
  data: RouteEventData;
  /** The write's commit time (the event's time), ms since the epoch. */
  time: number;
  /** The id of the route's tenant (the event's `tenantid`), when it carries one. */
  tenantId?: string;
}

/**
 * What applying one event came to: true it changed the cache, false it did not (older than what the
 * cache holds, or a duplicate), or the error Redis replied to that event's script alone (WRONGTYPE
 * when another value sits at the route's key, a Lua error, LOADING...), which the caller judges.
 */
export type EventOutcome = boolean | ErrorReply;

/**
 * The cache protocol over one Redis client: reads, fills (resolver) and events (worker). Each
 * operation fails with RedisTimeoutError past `timeoutMs`, so that a slow or dead Redis fails fast.
 */
export class RouteCache {
  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
    /** Redis expiry of an entry: the stale grace. */
    private readonly graceMs: number,
    /** Timeout of one Redis round trip: a read, a fill, a pipelined batch of events (0: none). */
    private readonly timeoutMs = 1_000,
  ) {}

  key(id: RouteId): string {
    return routeCacheKey(this.prefix, id);
  }

  /** The cached answer of a route, or undefined (one round trip). */
  async read(id: RouteId): Promise<CachedAnswer | undefined> {
    return parseEntry(await withDeadline(this.client.hGetAll(this.key(id)), this.timeoutMs));
  }

  /**
   * The cached answer of a route and, for a probed route, its endpoints' health (the majority of
   * their fresh verdicts, decided in Redis): the entry and the health summary in one round trip (two
   * commands written together, one slot), so a cached answer never pins an endpoint whose health has
   * changed since. A route not probed costs what an HGETALL did; a probed route whose summary expired
   * (no prober renewed a verdict behind it) is counted from the verdicts in a second round trip.
   * `health` is undefined when none was read: no entry and no summary, or an entry not probed (the
   * caller reads it, `HealthStore`, if the database says the route is probed).
   */
  async readWithHealth(id: RouteId): Promise<{ entry: CachedAnswer | undefined; health: HealthVotes | undefined }> {
    const [hash, summary] = await withDeadline(Promise.all([this.client.hGetAll(this.key(id)), this.client.get(healthSummaryKey(this.prefix, id))]), this.timeoutMs);
    const entry = parseEntry(hash);
    const probed = entry?.route?.healthCheck;
    if (summary !== null && (entry === undefined || probed)) return { entry, health: parseSummary(summary) };
    if (!probed) return { entry, health: undefined };
    const votes = await withDeadline(this.client.healthVotes(healthKey(this.prefix, id), []), this.timeoutMs);
    return { entry, health: parseSummary(votes) };
  }

  /** Takes the lease of a fill: call it before the database read whose answer fill() offers. */
  async prepare(id: RouteId): Promise<Lease> {
    const lease = randomBytes(12).toString('base64url');
    const node = await withDeadline(this.client.routePrepare(this.key(id), [lease, String(LEASE_MS)]), this.timeoutMs);
    return { id: lease, node };
  }

  /** Offers a fill (see FILL_SCRIPT for when the cache takes it). */
  async fill(fill: Fill): Promise<FillOutcome> {
    const args = [
      fill.route ? 'p' : 'a',
      fill.route?.url ?? '',
      String(fill.route?.revision ?? 0),
      String(fill.asOf),
      String(fill.knownAt),
      String(this.graceMs),
      fill.lease.id,
      fill.lease.node,
      fill.route ? encodePolicy(fill.route) : '',
      fill.route?.tenantId ?? '',
    ];
    const reply = await withDeadline(this.client.routeFill(this.key(fill.id), args), this.timeoutMs);
    return reply === 1 ? 'accepted' : reply === 2 ? 'refused' : 'rejected';
  }

  /**
   * Applies events in one round trip, in the order given. Resolves with one outcome per event (see
   * EventOutcome): one event's error reply does not fail the others. Rejects only when the round
   * trip itself failed (Redis unreachable, the connection closed, no answer in time).
   *
   * Each event is its own script call, all issued in the same tick: node-redis writes the commands
   * of one tick together (a pipeline per node: on a cluster each route's slot decides its node, so
   * one MULTI could not carry a batch, and a MULTI's execAsPipeline rejects with the first error
   * reply and drops the others), and each call is EVALSHA with node-redis's own fallback to EVAL on
   * NOSCRIPT. Events of one route keep their order on its node's connection; the version gate makes
   * the outcome independent of it anyway.
   */
  async applyEvents(events: EventToApply[], mode: InvalidationMode): Promise<EventOutcome[]> {
    if (events.length === 0) return [];
    const replies = Promise.allSettled(
      events.map(({ data, time, tenantId }) =>
        this.client.routeEvent(this.key(data), [
          data.url === null ? 'a' : 'p',
          data.url ?? '',
          String(data.revision),
          String(time),
          mode,
          String(this.graceMs),
          data.url === null ? '' : encodePolicy({ url: data.url, revision: data.revision, endpoints: data.endpoints, healthCheck: data.healthCheck }),
          tenantId ?? '',
        ]),
      ),
    );
    return (await withDeadline(replies, this.timeoutMs)).map((reply) => {
      if (reply.status === 'fulfilled') return reply.value === 1;
      if (reply.reason instanceof ErrorReply) return reply.reason;
      throw reply.reason;
    });
  }
}
