/** Where the cache lives: one Redis node (a `redis://` URL as node-redis takes it) or a Redis Cluster. */
export type RedisTarget =
  | { cluster: false; url: string }
  | {
      cluster: true;
      /** The seed nodes: node-redis discovers the rest of the cluster from any of them. */
      nodes: { host: string; port: number }[];
      tls: boolean;
      username?: string;
      password?: string;
    };

const HOST_PORT = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:.]+\]):(\d{1,5})$/;

/**
 * Parses `REDIS_URL`: `redis://[user:password@]host:port[/db]`, `rediss://...` (TLS), or a cluster
 * as `redis+cluster://[user:password@]host:port,host:port,...` (`rediss+cluster://` for TLS; every
 * node takes the same credentials, there is no database number on a cluster). Returns undefined
 * when the value is none of these.
 */
export function parseRedisUrl(value: unknown): RedisTarget | undefined {
  if (typeof value !== 'string') return undefined;
  const cluster = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#@]+)\/?$/.exec(value);
  if (cluster) {
    const nodes: { host: string; port: number }[] = [];
    for (const part of (cluster[3] as string).split(',')) {
      const m = HOST_PORT.exec(part.trim());
      const port = Number(m?.[2]);
      if (!m || port < 1 || port > 65535) return undefined;
      nodes.push({ host: (m[1] as string).replace(/^\[(.*)\]$/, '$1'), port });
    }
    const target: RedisTarget = { cluster: true, nodes, tls: cluster[1] === 'rediss' };
    const userInfo = cluster[2];
    if (userInfo !== undefined && userInfo !== '') {
      const colon = userInfo.indexOf(':');
      try {
        const username = decodeURIComponent(colon < 0 ? userInfo : userInfo.slice(0, colon));
        const password = colon < 0 ? undefined : decodeURIComponent(userInfo.slice(colon + 1));
        if (username !== '') target.username = username;
        if (password !== undefined && password !== '') target.password = password;
      } catch {
        return undefined;
      }
    }
    return target;
  }
  try {
    const url = new URL(value);
    if ((url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '') return { cluster: false, url: value };
  } catch {
    // not a URL
  }
  return undefined;
}

/** Keep trying, at most every 2 s, for as long as the app runs. */
export const redisReconnectStrategy = (retries: number): number => Math.min(50 * 2 ** retries, 2_000);

/**
 * What node-redis's createCluster takes for a cluster target, the same for every client of ours:
 * the seed nodes, and each node's credentials and socket (connect within 2 s, reconnect for as long
 * as the app runs, TLS as the URL says), without an offline queue (a command while the node is down
 * fails at once).
 */
export function redisClusterOptions(target: Extract<RedisTarget, { cluster: true }>) {
  const scheme = target.tls ? 'rediss' : 'redis';
  return {
    rootNodes: target.nodes.map(({ host, port }) => ({ url: `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}` })),
    defaults: {
      ...(target.username !== undefined ? { username: target.username } : {}),
      ...(target.password !== undefined ? { password: target.password } : {}),
      socket: { connectTimeout: 2_000, reconnectStrategy: redisReconnectStrategy, ...(target.tls ? { tls: true as const } : {}) },
      disableOfflineQueue: true,
    },
  };
}
