import type { RouteId } from '@tm/contracts';
import type { RedisClient } from '@tm/route-cache';
import { TestRedisCluster, TestRedisServer } from '@tm/testing';
import { Barrier, ResolverUnderTest } from '../resolver.test-support';

async function ready(client: RedisClient, key: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await client.exists(key);
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * G6 when Redis loses data: the resolver read the database as of 10, the write at 11 committed and
 * its event was applied (the fence at 11), then Redis lost the route's hash (an eviction, a restart
 * without persistence, a failover to a replica that had not received it), then the fill from 10
 * arrives. It must be refused: served, it would be a fresh HIT of the old state with no event left
 * to replace it. The interleaving is forced with the resolver's beforeFill hook.
 */
describe('a fill across Redis losing data (G6)', () => {
  let gate: Barrier | undefined;
  const hooks = {
    beforeFill: async () => {
      const held = gate;
      gate = undefined;
      await held?.wait();
    },
  };

  /**
   * Read as of N, (beforeEvent), write N+1 and apply its event, lose, then let the fill go; the next
   * answer must be N+1.
   */
  async function lostBetweenReadAndFill(
    r: ResolverUnderTest,
    route: string,
    lose: (key: string) => Promise<void>,
    beforeEvent: (key: string) => Promise<void> = async () => undefined,
  ): Promise<void> {
    const [tenant, service, environment] = route.split('/') as [string, string, string];
    const id: RouteId = { tenant, service, environment };
    const key = r.worker.key(id);
    await r.write(route, 'https://old/');
    const held = new Barrier();
    gate = held;
    const first = r.resolve(route);
    await held.reached;
    await beforeEvent(key);
    const write = await r.write(route, 'https://new/');
    expect(await r.apply([write])).toEqual([true]);
    await lose(key);
    await ready(r.appRedis, key);
    await r.feedHas(write.data.revision);
    held.open();
    const answer = await first;
    // That request read before the write: its own answer is the old state, as a MISS.
    expect(answer).toMatchObject({ status: 200, body: { url: 'https://old/' } });
    expect(answer.headers['x-cache']).toBe('MISS');
    // The fill was refused: the next answer is not a HIT of the old state.
    const next = await r.resolve(route);
    expect(next.body).toMatchObject({ url: 'https://new/', revision: write.data.revision });
    expect(next.headers['x-cache']).toBe('MISS');
    // And the cache now holds what the database holds.
    await ready(r.redis, key);
    expect(await r.worker.read(id)).toMatchObject({ route: { url: 'https://new/', revision: write.data.revision } });
  }

  describe('one redis-server of its own', () => {
    let server: TestRedisServer;
    let r: ResolverUnderTest;
    beforeAll(async () => {
      server = await TestRedisServer.start();
      r = await ResolverUnderTest.start({ redisUrl: server.url, ownRedis: true, hooks });
    });
    afterAll(async () => {
      await r?.stop();
      await server?.stop();
    });

    it("the route's key deleted (as an eviction would) between the read and the fill", async () => {
      await lostBetweenReadAndFill(r, 'acme/evicted/prod', async (key) => void (await r.redis.del(key)));
    });

    it('the redis-server restarted without its data between the read and the fill', async () => {
      await lostBetweenReadAndFill(r, 'acme/restarted/prod', async () => {
        await server.kill();
        await server.restart();
      });
    });

    it('without a loss the fill is taken as before', async () => {
      await r.write('acme/plain/prod', 'https://plain/');
      expect((await r.resolve('acme/plain/prod')).headers['x-cache']).toBe('MISS');
      expect((await r.resolve('acme/plain/prod')).headers['x-cache']).toBe('HIT');
    });
  });

  describe('a Redis Cluster of its own (3 masters, 3 replicas)', () => {
    let cluster: TestRedisCluster;
    let r: ResolverUnderTest;
    beforeAll(async () => {
      cluster = await TestRedisCluster.start();
      r = await ResolverUnderTest.start({ redisUrl: cluster.url, ownRedis: true, hooks });
    }, 60_000);
    afterAll(async () => {
      await r?.stop();
      await cluster?.stop();
    });

    it('a fill and a read work on the cluster (MISS then HIT)', async () => {
      await r.write('acme/web/prod', 'https://web/');
      expect((await r.resolve('acme/web/prod')).headers['x-cache']).toBe('MISS');
      expect((await r.resolve('acme/web/prod')).headers['x-cache']).toBe('HIT');
    });

    it('a failover to a replica that had not received the event, between the read and the fill', async () => {
      let master = 0;
      let replica = 0;
      await lostBetweenReadAndFill(
        r,
        'acme/failover/prod',
        async (key) => {
          await cluster.kill(master);
          cluster.thaw(replica);
          expect(await cluster.waitForPromotion(master)).toBe(replica);
          // The promoted replica has the lease but not the event's fence: the failover lost it.
          expect(await cluster.command(replica, ['HEXISTS', key, 'l'])).toBe('1');
          expect(await cluster.command(replica, ['HEXISTS', key, 'fence'])).toBe('0');
          await cluster.restart(master);
        },
        async (key) => {
          master = await cluster.masterOf(key);
          replica = await cluster.replicaOf(master);
          // The replica gets everything up to the lease, then nothing more.
          await cluster.detachReplica(master, replica);
        },
      );
    }, 90_000);
  });
});
