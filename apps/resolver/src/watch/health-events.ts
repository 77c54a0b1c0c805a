import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { parseRouteKey, WatchEvents, type HealthCheck, type HealthEventData, type PolicyEndpoint, type RouteId } from '@tm/contracts';
import {
  currentHealth,
  healthChannel,
  HealthStore,
  parseHealthChange,
  REDIS_CLIENT,
  subscribe,
  type RedisClient,
  type RedisSubscription,
} from '@tm/route-cache';
import { ResolverConfig } from '../config';
import { LocalRouteCache } from '../resolve/local-cache';
import { HealthLapses, NODE_TIMERS, type EndpointState } from './health-lapses';
import type { WatchStream } from './watch-stream';

/**
 * The data of an `event: health` frame, with the health revision it belongs to (a client drops one
 * of another revision) and always a `since` (a moment within that health: a client keeps the frame
 * with the later one).
 */
export type HealthFrameData = HealthEventData & { healthRevision: number; since: string };

export function healthFrame(data: HealthFrameData): string {
  return `event: ${WatchEvents.health}\ndata: ${JSON.stringify(data)}\n\n`;
}

function frameOf(id: RouteId, state: EndpointState): string {
  return healthFrame({ ...id, endpoint: state.endpoint, healthRevision: state.healthRevision, health: state.health, since: new Date(state.since).toISOString() });
}

/** Routes' health reads at once when a stream starts. */
const CONCURRENT_READS = 16;
/** After the last stream of a scope closed, routes no stream wants are dropped within this long. */
const PRUNE_MS = 1_000;

/** The scope of a stream's filter: `<tenant or *>/<service or *>`. */
function scopeOf(tenant: string | null, service: string | null): string {
  return `${tenant ?? '*'}/${service ?? '*'}`;
}

/**
 * `?health=true` (docs/guarantees.md, "Watch"): relays the probers' health changes (Redis pub/sub,
 * `<prefix>health-events`) to the streams that asked for them, sends a stream the current health
 * of its probed routes when it starts, and sends the changes no prober publishes, when verdicts
 * expire (HealthLapses: with every prober stopped, the streams learn that the endpoints are
 * unknown at the moment the resolver's answers do). A stream is added before its read, so no
 * change is missed; an endpoint's health may then come twice, and the later `since` is the one
 * that holds. Pub/sub is at most once: after the subscription was lost, every health stream is
 * closed, and its resume starts with the current health again, so a client never silently misses a
 * change.
 */
@Injectable()
export class HealthEvents implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('WatchHealth');
  private readonly store: HealthStore;
  private readonly streams = new Set<WatchStream>();
  /** Health streams by scope (scopeOf), to tell at once whether a route is still wanted. */
  private readonly scopes = new Map<string, number>();
  private readonly lapses: HealthLapses;
  private pruneTimer: NodeJS.Timeout | undefined;
  private subscription: RedisSubscription | undefined;

  constructor(
    private readonly config: ResolverConfig,
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
    /** The resolver's memory: a probed route's votes there go when its health changes. */
    private readonly local: LocalRouteCache,
  ) {
    this.store = new HealthStore(redis, config.CACHE_KEY_PREFIX, config.REDIS_COMMAND_TIMEOUT_MS * 10);
    this.lapses = new HealthLapses({
      timers: NODE_TIMERS,
      read: (id) => this.store.readAt(id),
      send: (id, state) => this.broadcast(id, frameOf(id, state)),
      wanted: (id) => this.wanted(id),
    });
  }

  onApplicationBootstrap(): void {
    this.subscription = subscribe(this.redis, healthChannel(this.config.CACHE_KEY_PREFIX), (message) => this.onMessage(message));
    this.subscription.onResubscribed(() => {
      this.local.healthLost();
      if (this.streams.size === 0) return;
      this.logger.warn(`health events: the subscription was lost; closing ${this.streams.size} health streams (they resume with the current health)`);
      for (const stream of [...this.streams]) stream.close('health-gap');
    });
  }

  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.pruneTimer);
    this.lapses.close();
    await this.subscription?.close();
  }

  add(stream: WatchStream): void {
    if (this.streams.has(stream)) return;
    this.streams.add(stream);
    const scope = scopeOf(stream.tenant, stream.service);
    this.scopes.set(scope, (this.scopes.get(scope) ?? 0) + 1);
  }

  remove(stream: WatchStream): void {
    if (!this.streams.delete(stream)) return;
    const scope = scopeOf(stream.tenant, stream.service);
    const left = (this.scopes.get(scope) ?? 1) - 1;
    if (left > 0) {
      this.scopes.set(scope, left);
      return;
    }
    this.scopes.delete(scope);
    this.pruneTimer ??= setTimeout(() => {
      this.pruneTimer = undefined;
      this.lapses.prune();
    }, PRUNE_MS).unref();
  }

  /** Whether a health stream's filter takes the route (as WatchStream.matches, by scope). */
  private wanted(id: RouteId): boolean {
    const { scopes } = this;
    if (scopes.size === 0) return false;
    return scopes.has('*/*') || scopes.has(scopeOf(id.tenant, null)) || scopes.has(scopeOf(null, id.service)) || scopes.has(scopeOf(id.tenant, id.service));
  }

  private broadcast(id: RouteId, frame: string): void {
    for (const stream of this.streams) if (stream.matches(id)) stream.write(frame, 1);
  }

  private onMessage(message: string): void {
    const change = parseHealthChange(message);
    const id = change ? parseRouteKey(change.route) : undefined;
    if (!change || !id) return;
    this.local.healthChanged(change.route);
    this.broadcast(id, frameOf(id, change));
    if (this.wanted(id)) this.lapses.relayed(id, change);
  }

  /**
   * Sends `stream` the current health of every endpoint of these probed routes. Where Redis does not
   * answer, the health this replica's streams were last sent, if it knows one (nothing is made up:
   * the stream's client keeps what it has, and a new one starts unknown, as the resolver's answers).
   */
  async sendCurrent(stream: WatchStream, routes: { id: RouteId; endpoints: PolicyEndpoint[]; healthCheck: HealthCheck | null }[]): Promise<void> {
    const probed = routes.filter((r) => r.healthCheck !== null);
    for (let i = 0; i < probed.length && !stream.closed; i += CONCURRENT_READS) {
      const batch = probed.slice(i, i + CONCURRENT_READS);
      const reads = await Promise.all(batch.map((r) => this.lapses.refresh(r.id)));
      batch.forEach((route, j) => {
        const refreshed = reads[j];
        for (const e of route.endpoints) {
          const base = `${e.id}|${e.healthRevision}`;
          // News to this replica went to every stream of the route, this one too.
          if (refreshed?.sent.has(base)) continue;
          const state = refreshed ? { endpoint: e.id, healthRevision: e.healthRevision, ...currentHealth(refreshed.read, e) } : this.lapses.known(route.id, base);
          if (state) stream.write(frameOf(route.id, state), 1);
        }
      });
      await stream.drained();
    }
  }
}
