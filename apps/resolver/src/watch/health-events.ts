import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { parseRouteKey, WatchEvents, type HealthCheck, type HealthEventData, type PolicyEndpoint, type RouteId } from '@tm/contracts';
import {
  endpointHealth,
  healthChannel,
  HealthStore,
  parseHealthChange,
  REDIS_CLIENT,
  subscribe,
  type RedisClient,
  type RedisSubscription,
} from '@tm/route-cache';
import { ResolverConfig } from '../config';
import type { WatchStream } from './watch-stream';

/** The data of an `event: health` frame, with the health revision it belongs to (a client drops one of another revision). */
export type HealthFrameData = HealthEventData & { healthRevision: number };

export function healthFrame(data: HealthFrameData): string {
  return `event: ${WatchEvents.health}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Routes' health reads at once when a stream starts. */
const CONCURRENT_READS = 16;

/**
 * `?health=true` (docs/guarantees.md, "Watch"): relays the probers' health changes (Redis pub/sub,
 * `<prefix>health-events`) to the streams that asked for them, and sends a stream the current health
 * of its probed routes when it starts. A stream is added before that read, so no change is missed;
 * an endpoint's health may then come twice, and the later `since` is the one that holds. Pub/sub is at most once: after the subscription was lost,
 * every health stream is closed, and its resume starts with the current health again, so a client
 * never silently misses a change.
 */
@Injectable()
export class HealthEvents implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('WatchHealth');
  private readonly store: HealthStore;
  private readonly streams = new Set<WatchStream>();
  private subscription: RedisSubscription | undefined;

  constructor(
    private readonly config: ResolverConfig,
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
  ) {
    this.store = new HealthStore(redis, config.CACHE_KEY_PREFIX, config.REDIS_COMMAND_TIMEOUT_MS * 10);
  }

  onApplicationBootstrap(): void {
    this.subscription = subscribe(this.redis, healthChannel(this.config.CACHE_KEY_PREFIX), (message) => this.onMessage(message));
    this.subscription.onResubscribed(() => {
      if (this.streams.size === 0) return;
      this.logger.warn(`health events: the subscription was lost; closing ${this.streams.size} health streams (they resume with the current health)`);
      for (const stream of [...this.streams]) stream.close('health-gap');
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.subscription?.close();
  }

  add(stream: WatchStream): void {
    this.streams.add(stream);
  }

  remove(stream: WatchStream): void {
    this.streams.delete(stream);
  }

  private onMessage(message: string): void {
    const change = parseHealthChange(message);
    const id = change ? parseRouteKey(change.route) : undefined;
    if (!change || !id) return;
    const frame = healthFrame({
      ...id,
      endpoint: change.endpoint,
      healthRevision: change.healthRevision,
      health: change.health,
      since: new Date(change.since).toISOString(),
    });
    for (const stream of this.streams) if (stream.matches(id)) stream.write(frame, 1);
  }

  /** Sends `stream` the current health of every endpoint of these probed routes (unknown where Redis does not answer). */
  async sendCurrent(stream: WatchStream, routes: { id: RouteId; endpoints: PolicyEndpoint[]; healthCheck: HealthCheck | null }[]): Promise<void> {
    const probed = routes.filter((r) => r.healthCheck !== null);
    for (let i = 0; i < probed.length && !stream.closed; i += CONCURRENT_READS) {
      const batch = probed.slice(i, i + CONCURRENT_READS);
      const records = await Promise.all(batch.map((r) => this.store.read(r.id).catch(() => undefined)));
      batch.forEach((route, j) => {
        for (const e of route.endpoints) {
          const h = endpointHealth(records[j] ?? new Map(), e);
          stream.write(healthFrame({ ...route.id, endpoint: e.id, healthRevision: e.healthRevision, health: h.health, since: h.since }), 1);
        }
      });
      await stream.drained();
    }
  }
}
