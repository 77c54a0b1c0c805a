import { createClient, createCluster, defineScript, type CommandParser, type RedisArgument, type RedisScripts } from 'redis';
import { parseRedisUrl, redisClusterOptions, redisReconnectStrategy } from './redis-url';

/** A one-key script: the key routes it (to the slot's master on a cluster), then its arguments. */
export function oneKeyScript<Reply>(source: string, transformReply: (reply: unknown) => Reply) {
  return defineScript({
    SCRIPT: source,
    NUMBER_OF_KEYS: 1,
    parseCommand(parser: CommandParser, key: RedisArgument, args: RedisArgument[]) {
      parser.pushKey(key);
      parser.push(...args);
    },
    transformReply,
  });
}

/** The lifecycle every client of createFeatureRedis has, the same on a node and on a cluster. */
export interface FeatureRedisLifecycle {
  connect(): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): void;
  on(event: 'error', listener: (e: Error) => void): unknown;
  readonly isOpen: boolean;
  readonly isReady: boolean;
}

/**
 * A Redis client of a feature's own, used off the request path (REDIS_URL: one node or a cluster),
 * with its scripts: its commands fail at once while Redis is down (no offline queue). `Client` is
 * the little of node-redis the feature declares it uses, the same on a node and on a cluster.
 */
export function createFeatureRedis<Client>(url: string, scripts: RedisScripts): Client {
  const target = parseRedisUrl(url);
  if (!target) throw new Error('REDIS_URL is not a redis://, rediss://, redis+cluster:// or rediss+cluster:// URL');
  if (!target.cluster) {
    return createClient({ url: target.url, socket: { connectTimeout: 2_000, reconnectStrategy: redisReconnectStrategy }, disableOfflineQueue: true, scripts }) as unknown as Client;
  }
  return createCluster({ ...redisClusterOptions(target), useReplicas: false, scripts }) as unknown as Client;
}
