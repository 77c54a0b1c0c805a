import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { RedisTimeoutError } from './deadline';
import { createRedisClient, type RedisClient } from './redis.module';
import { RouteCache } from './route-cache';

/**
 * A Redis that completes the connection handshake and then never answers a command: a hung
 * server (or a network that stopped delivering) behind a connection that looks healthy.
 */
async function hungRedis(): Promise<{ url: string; server: Server; sockets: Set<Socket>; commands: string[] }> {
  const sockets = new Set<Socket>();
  const commands: string[] = [];
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', (data) => {
      const text = data.toString('utf8');
      const handshake = /HELLO|CLIENT/.test(text);
      if (!handshake) return void commands.push(text);
      // One reply per command in the handshake: HELLO gets a (RESP3) map, the others +OK.
      const count = (text.match(/^\*\d+\r$/gm) ?? []).length;
      let reply = '';
      for (let i = 0; i < count; i++) reply += i === 0 && text.includes('HELLO') ? '%1\r\n+proto\r\n:3\r\n' : '+OK\r\n';
      socket.write(reply);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`, server, sockets, commands };
}

describe('RouteCache against a Redis that stops answering', () => {
  let redis: Awaited<ReturnType<typeof hungRedis>>;
  let client: RedisClient;
  beforeAll(async () => {
    redis = await hungRedis();
    client = createRedisClient({ url: redis.url });
    client.on('error', () => undefined);
    await client.connect();
  });
  afterAll(async () => {
    client.destroy();
    for (const socket of redis.sockets) socket.destroy();
    redis.server.close();
    await once(redis.server, 'close');
  });

  it('a read, a lease, a fill and a batch of events each fail with RedisTimeoutError after the timeout', async () => {
    const cache = new RouteCache(client, 'test:', 60_000, 50);
    const id = { tenant: 'acme', service: 'web', environment: 'prod' };
    const started = Date.now();
    await expect(cache.read(id)).rejects.toBeInstanceOf(RedisTimeoutError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(49);
    expect(Date.now() - started).toBeLessThan(1_000);
    await expect(cache.prepare(id)).rejects.toBeInstanceOf(RedisTimeoutError);
    const lease = { id: 'lease', node: 'node' };
    await expect(cache.fill({ id, route: { url: 'https://a', revision: 1 }, asOf: 1, knownAt: Date.now(), lease })).rejects.toBeInstanceOf(RedisTimeoutError);
    await expect(cache.applyEvents([{ data: { ...id, url: 'https://a', revision: 2 }, time: Date.now() }], 'refresh')).rejects.toBeInstanceOf(
      RedisTimeoutError,
    );
    // The commands did reach the server: it is the answer that never came.
    expect(redis.commands.join('')).toMatch(/HGETALL[\s\S]*EVALSHA[\s\S]*EVALSHA[\s\S]*EVALSHA/);
  });
});
