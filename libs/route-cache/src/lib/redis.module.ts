import {
  Inject,
  Injectable,
  Logger,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { createClient, createCluster, type RedisClientType, type RedisClusterType } from 'redis';
import { parseRedisUrl, redisClusterOptions, redisReconnectStrategy as reconnectStrategy, withTimeout, type ReadinessCheck } from '@tm/platform';
import { ROUTE_CACHE_SCRIPTS, type RouteCacheScripts } from './scripts';

/** The app's Redis: one node or a cluster, behind the same interface (REDIS_URL decides). */
export const REDIS_CLIENT = Symbol('REDIS_CLIENT');

/* eslint-disable @typescript-eslint/no-empty-object-type -- no modules or functions of our own: node-redis's own defaults are `{}` */
type SingleNodeClient = RedisClientType<{}, {}, RouteCacheScripts>;
type ClusterClient = RedisClusterType<{}, {}, RouteCacheScripts>;
/* eslint-enable @typescript-eslint/no-empty-object-type */

/**
 * What callers use, the same on a single node and on a cluster: key commands (routed to the key's
 * slot on a cluster), the cache protocol's scripts (`routePrepare`, `routeFill`, `routeEvent`), and the lifecycle.
 * A command of several keys must keep them in one slot: give them one hash tag (`{...}`).
 */
export type RedisClient = Pick<
  SingleNodeClient,
  | 'get'
  | 'set'
  | 'del'
  | 'unlink'
  | 'exists'
  | 'pTTL'
  | 'pExpire'
  | 'hGetAll'
  | 'hGet'
  | 'hSet'
  | 'hDel'
  | 'scriptFlush'
  | 'routePrepare'
  | 'routeFill'
  | 'routeEvent'
  | 'healthVotes'
  | 'healthRead'
  | 'healthVerdict'
  | 'replayMarkerCheck'
  | 'replayMarkerDone'
  | 'isOpen'
  | 'isReady'
  | 'close'
  | 'destroy'
> & {
  /** Connects (on a cluster: discovers the topology from the seed nodes). */
  connect(): Promise<unknown>;
  on(event: 'error', listener: (e: Error) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
};

export interface RedisOptions {
  /** REDIS_URL: `redis://`, `rediss://`, `redis+cluster://h1:p1,h2:p2`, `rediss+cluster://...`. */
  url: string;
}

/** The underlying node-redis objects of a client made here, for what only one kind has (a cluster's masters). */
const underlying = new WeakMap<RedisClient, { kind: 'node'; client: SingleNodeClient } | { kind: 'cluster'; cluster: ClusterClient }>();

/**
 * The nodes that take writes: the client itself on a single node, one client per master on a
 * cluster (each master's own connection, for commands about the node rather than a key).
 */
export async function redisMasters(client: RedisClient): Promise<{ address: string; client: Pick<SingleNodeClient, 'info' | 'sendCommand'> }[]> {
  const raw = underlying.get(client);
  if (!raw) throw new Error('not a client made by createRedisClient');
  if (raw.kind === 'node') return [{ address: 'node', client: raw.client }];
  return Promise.all(raw.cluster.masters.map(async (m) => ({ address: m.address, client: await raw.cluster.nodeClient(m) })));
}

/** A pub/sub subscription on a connection of its own. */
export interface RedisSubscription {
  /** Called after the subscription was lost and is back (messages published meanwhile are gone). */
  onResubscribed(listener: () => void): void;
  close(): Promise<void>;
}

/**
 * Subscribes to `channel` beside `client`: a single node gets a duplicate connection (a subscribed
 * connection takes no other command), which reconnects and resubscribes by itself; a cluster uses
 * its own pub/sub connection. Pub/sub is at most once: `onResubscribed` tells when messages may
 * have been missed.
 */
export function subscribe(client: RedisClient, channel: string, listener: (message: string) => void): RedisSubscription {
  const raw = underlying.get(client);
  if (!raw) throw new Error('not a client made by createRedisClient');
  const resubscribed: (() => void)[] = [];
  if (raw.kind === 'cluster') {
    // The cluster's pub/sub connection needs the topology: until it is known (Redis down at start),
    // try again every second, in the background.
    let closed = false;
    let retry: NodeJS.Timeout | undefined;
    const attempt = (): void => {
      raw.cluster.subscribe(channel, listener).catch(() => {
        if (!closed) retry = setTimeout(attempt, 1_000);
      });
    };
    attempt();
    return {
      onResubscribed: (l) => resubscribed.push(l),
      close: async () => {
        closed = true;
        clearTimeout(retry);
        await raw.cluster.unsubscribe(channel).catch(() => undefined);
      },
    };
  }
  // With an offline queue: the subscription waits for the connection instead of failing.
  const sub = raw.client.duplicate({ disableOfflineQueue: false });
  let lost = false;
  sub.on('error', () => {
    lost = true;
  });
  sub.on('ready', () => {
    if (!lost) return;
    lost = false;
    for (const l of resubscribed) l();
  });
  // Connected in the background: the app starts while Redis is down, and the client resubscribes on connect.
  void sub.connect().catch(() => undefined);
  void sub.subscribe(channel, listener).catch(() => undefined);
  return {
    onResubscribed: (l) => resubscribed.push(l),
    close: async () => {
      if (sub.isOpen) await sub.close().catch(() => sub.destroy());
      else sub.destroy();
    },
  };
}

/**
 * The client has no per-command timeout of its own: node-redis's (an AbortSignal.timeout per
 * command) is costly on the hot path. The cache protocol bounds its commands itself
 * (RouteCache, `withDeadline`); the readiness check bounds its PING. Commands issued while Redis
 * (or the key's master) is down fail at once instead of queueing.
 */
export function createRedisClient(options: RedisOptions): RedisClient {
  const target = parseRedisUrl(options.url);
  if (!target) throw new Error('REDIS_URL is not a redis://, rediss://, redis+cluster:// or rediss+cluster:// URL');
  if (!target.cluster) {
    const client: SingleNodeClient = createClient({
      url: target.url,
      socket: { connectTimeout: 2_000, reconnectStrategy },
      commandOptions: { timeout: 0 },
      disableOfflineQueue: true,
      scripts: ROUTE_CACHE_SCRIPTS,
    });
    underlying.set(client, { kind: 'node', client });
    return client;
  }
  const cluster: ClusterClient = createCluster({
    ...redisClusterOptions(target),
    commandOptions: { timeout: 0 },
    // Reads and writes go to the masters: a replica may lag behind the fence a fill is checked against.
    useReplicas: false,
    // A master that drops its connection: the topology is asked again after half a second, so a
    // failover is followed in about that long (node-redis's default waits 5 s).
    topologyRefreshOnReconnectionAttemptStrategy: 500,
    scripts: ROUTE_CACHE_SCRIPTS,
  });
  const client = cluster as unknown as RedisClient;
  underlying.set(client, { kind: 'cluster', cluster });
  return client;
}

/**
 * Connects at start (without waiting: the app must come up while Redis is down) and quits at
 * shutdown. A single node reconnects by itself; a cluster whose seed nodes do not answer at start
 * is tried again, with backoff, until it does.
 */
@Injectable()
export class RedisLifecycle implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Redis');
  private lastError = '';
  private stopping = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(@Inject(REDIS_CLIENT) private readonly client: RedisClient) {}

  onModuleInit(): void {
    this.client.on('error', (e: Error) => {
      // node-redis repeats the error on every reconnect attempt; log each distinct one once.
      if (e.message !== this.lastError) this.logger.warn(`redis: ${e.message}`);
      this.lastError = e.message;
    });
    this.client.on('ready', () => {
      this.lastError = '';
      this.logger.log('redis: ready');
    });
    this.connect(0);
  }

  private connect(attempt: number): void {
    this.client.connect().then(
      () => {
        if (underlying.get(this.client)?.kind === 'cluster') this.logger.log('redis: cluster topology discovered');
      },
      (e: unknown) => {
        this.logger.warn(`redis: connect failed: ${e instanceof Error ? e.message : String(e)}`);
        // A single node keeps reconnecting by itself; a cluster's first discovery is ours to retry.
        if (underlying.get(this.client)?.kind !== 'cluster' || this.stopping) return;
        this.retry = setTimeout(() => this.connect(attempt + 1), reconnectStrategy(attempt));
      },
    );
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.retry);
    if (this.client.isOpen) await this.client.close();
  }
}

/** Ready when Redis answers PING within half a second (on a cluster: every master). */
@Injectable()
export class RedisReadiness implements ReadinessCheck {
  readonly name = 'redis';

  constructor(@Inject(REDIS_CLIENT) private readonly client: RedisClient) {}

  async check(): Promise<void> {
    if (!this.client.isReady) throw new Error('Redis is not connected');
    await withTimeout(
      redisMasters(this.client).then((masters) => Promise.all(masters.map((m) => m.client.sendCommand(['PING'])))),
      500,
      'Redis',
    );
  }
}

@Module({})
export class RedisModule {
  static forRoot(options: RedisOptions): DynamicModule {
    return {
      module: RedisModule,
      global: true,
      providers: [
        { provide: REDIS_CLIENT, useFactory: () => createRedisClient(options) },
        RedisLifecycle,
        RedisReadiness,
      ],
      exports: [REDIS_CLIENT, RedisReadiness],
    };
  }
}
