import { freePort, testInfra } from '@tm/testing';
import { createRedisClient, RedisReadiness } from './redis.module';

describe('RedisReadiness', () => {
  it('is ready when Redis answers', async () => {
    const client = createRedisClient({ url: testInfra().redisUrl });
    await client.connect();
    try {
      await expect(new RedisReadiness(client).check()).resolves.toBeUndefined();
    } finally {
      await client.close();
    }
  });

  it('is not ready when nothing listens, and commands fail at once instead of queueing', async () => {
    const client = createRedisClient({ url: `redis://127.0.0.1:${await freePort()}` });
    client.on('error', () => undefined);
    const connecting = client.connect().catch(() => undefined);
    try {
      await expect(new RedisReadiness(client).check()).rejects.toThrow(/not connected/);
      await expect(client.get('x')).rejects.toThrow();
    } finally {
      client.destroy();
      await connecting;
    }
  });
});
