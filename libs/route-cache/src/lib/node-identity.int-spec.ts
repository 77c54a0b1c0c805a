import { deleteKeysWithPrefix, testInfra, testKeyPrefix, TestRedisServer } from '@tm/testing';
import { replayMarkerKey, ReplayMarker, RedisNodeIdentity } from './node-identity';
import { createRedisClient, type RedisClient } from './redis.module';

/** The replay marker in a real Redis: what a worker starting (or looking again) decides, with other workers beside it. */
describe('ReplayMarker (real Redis)', () => {
  let client: RedisClient;
  let prefix: string;
  beforeAll(async () => {
    client = createRedisClient({ url: testInfra().redisUrl });
    await client.connect();
  });
  beforeEach(() => {
    prefix = testKeyPrefix();
  });
  afterEach(() => deleteKeysWithPrefix(prefix));
  afterAll(() => client.close());

  const marker = async () => JSON.parse(String(await client.get(replayMarkerKey(prefix)))) as { ids: Record<string, string>; at: number; pending?: string };

  it('no marker (a first start, or Redis lost its data): a replay is due; once done, the same masters need none', async () => {
    const worker = new ReplayMarker(client, prefix);
    const due = await worker.check('t1');
    expect(due).toMatchObject({ reason: 'missing', token: 't1' });
    expect((await marker()).pending).toBe('t1');
    // Another worker looking meanwhile replays too (the first may die before it is done): the same token.
    expect(await new ReplayMarker(client, prefix).check('t2')).toMatchObject({ reason: 'pending', token: 't1' });
    expect(await worker.done('t1')).toBe(true);
    expect(await worker.check('t3')).toBeUndefined();
    const ids = [...(await new RedisNodeIdentity(client).masters()).values()];
    expect(await marker()).toEqual({ ids: { node: ids[0] }, at: expect.any(Number) as unknown });
  });

  it('a worker that marked a replay and died before it was done: the next look, of any worker, replays', async () => {
    await new ReplayMarker(client, prefix).check('dead');
    // The worker died here. Its successor starts:
    const successor = new ReplayMarker(client, prefix);
    expect(await successor.check('fresh')).toMatchObject({ reason: 'pending', token: 'dead' });
    expect(await successor.done('dead')).toBe(true);
    expect(await successor.check('again')).toBeUndefined();
  });

  it('a marker of other processes (the masters before a failover): a replay is due, from before it was last seen unchanged', async () => {
    const confirmedAt = Date.now() - 600_000;
    await client.set(replayMarkerKey(prefix), JSON.stringify({ ids: { node: '0'.repeat(40) }, at: confirmedAt }));
    const due = await new ReplayMarker(client, prefix).check('t1');
    expect(due).toEqual({ reason: 'new-master', token: 't1', confirmedAt });
    // A second loss while the replay ran: the first replay's done does not clear the second.
    await client.set(replayMarkerKey(prefix), JSON.stringify({ ...(await marker()), ids: { node: '1'.repeat(40) } }));
    expect(await new ReplayMarker(client, prefix).check('t2')).toMatchObject({ reason: 'new-master', token: 't2' });
    expect(await new ReplayMarker(client, prefix).done('t1')).toBe(false);
    expect((await marker()).pending).toBe('t2');
  });

  it('a Redis restarted without data while no worker looked: the marker is gone, the worker that starts replays', async () => {
    const server = await TestRedisServer.start();
    const own = createRedisClient({ url: server.url });
    own.on('error', () => undefined);
    await own.connect();
    try {
      const worker = new ReplayMarker(own, prefix);
      const first = await worker.check('t1');
      if (first) await worker.done(first.token);
      expect(await worker.check('t2')).toBeUndefined();
      await server.kill();
      await server.restart();
      // A new worker (a new process: nothing in its memory) looks at the restarted Redis.
      let due: Awaited<ReturnType<ReplayMarker['check']>>;
      for (let i = 0; ; i++) {
        try {
          due = await new ReplayMarker(own, prefix).check('t3');
          break;
        } catch (e) {
          // The client reconnects on its own.
          if (i > 100) throw e;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      expect(due).toMatchObject({ reason: 'missing', token: 't3' });
    } finally {
      own.destroy();
      await server.stop();
    }
  });
});
