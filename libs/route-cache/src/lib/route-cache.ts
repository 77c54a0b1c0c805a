import { createHash } from 'node:crypto';
import { ErrorReply } from 'redis';
import type { RouteEventData, RouteId } from '@tm/contracts';
import { withDeadline } from './deadline';
import { parseEntry, routeCacheKey, type CachedAnswer } from './entry';
import type { RedisClient } from './redis.module';
import { EVENT_SCRIPT, FILL_SCRIPT } from './scripts';

export type InvalidationMode = 'refresh' | 'invalidate';

export interface Fill {
  id: RouteId;
  route: { url: string; revision: number } | null;
  asOf: number;
  /** When the snapshot was known current: the time the database read started. */
  knownAt: number;
}

export interface EventToApply {
  data: RouteEventData;
  /** The write's commit time (the event's time), ms since the epoch. */
  time: number;
}

/**
 * What applying one event came to: true it changed the cache, false it did not (older than what the
 * cache holds, or a duplicate), or the error Redis replied to that event's script alone (WRONGTYPE
 * when another value sits at the route's key, a Lua error, LOADING...), which the caller judges.
 */
export type EventOutcome = boolean | ErrorReply;

const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');
const FILL_SHA = sha1(FILL_SCRIPT);
const EVENT_SHA = sha1(EVENT_SCRIPT);

function isNoScript(e: unknown): boolean {
  return e instanceof Error && e.message.startsWith('NOSCRIPT');
}

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

  /** Offers a fill; resolves true when the cache took it (see FILL_SCRIPT for when it does not). */
  async fill(fill: Fill): Promise<boolean> {
    const args = [
      fill.route ? 'p' : 'a',
      fill.route?.url ?? '',
      String(fill.route?.revision ?? 0),
      String(fill.asOf),
      String(fill.knownAt),
      String(this.graceMs),
    ];
    return (await this.script(FILL_SHA, FILL_SCRIPT, this.key(fill.id), args)) === 1;
  }

  /**
   * Applies events, pipelined in one round trip, in the order given. Resolves with one outcome per
   * event (see EventOutcome): one event's error reply does not fail the others. Rejects only when
   * the round trip itself failed (Redis unreachable, the connection closed, no answer in time).
   */
  async applyEvents(events: EventToApply[], mode: InvalidationMode): Promise<EventOutcome[]> {
    if (events.length === 0) return [];
    const outcomes = await withDeadline(this.pipeline(events, mode), this.timeoutMs);
    if (!outcomes.some(isNoScript)) return outcomes;
    // Redis restarted (or was flushed) since the script was loaded: load it and go again.
    // The events are idempotent, so those that did apply before the error change nothing now.
    await withDeadline(this.client.scriptLoad(EVENT_SCRIPT), this.timeoutMs);
    return withDeadline(this.pipeline(events, mode), this.timeoutMs);
  }

  /**
   * One EVALSHA per event, all issued in the same tick: node-redis writes them in one round trip,
   * and each settles with its own reply. (A MULTI's execAsPipeline rejects with the first error
   * reply and drops the other replies.)
   */
  private async pipeline(events: EventToApply[], mode: InvalidationMode): Promise<EventOutcome[]> {
    const replies = await Promise.allSettled(
      events.map(({ data, time }) =>
        this.client.evalSha(EVENT_SHA, {
          keys: [this.key(data)],
          arguments: [data.url === null ? 'a' : 'p', data.url ?? '', String(data.revision), String(time), mode, String(this.graceMs)],
        }),
      ),
    );
    return replies.map((reply) => {
      if (reply.status === 'fulfilled') return Number(reply.value) === 1;
      if (reply.reason instanceof ErrorReply) return reply.reason;
      throw reply.reason;
    });
  }

  private async script(sha: string, source: string, key: string, args: string[]): Promise<number> {
    try {
      return (await withDeadline(this.client.evalSha(sha, { keys: [key], arguments: args }), this.timeoutMs)) as number;
    } catch (e) {
      if (!isNoScript(e)) throw e;
      return (await withDeadline(this.client.eval(source, { keys: [key], arguments: args }), this.timeoutMs)) as number;
    }
  }
}
