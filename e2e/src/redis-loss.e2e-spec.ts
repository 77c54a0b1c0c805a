import { createRedisClient, RouteCache, type RedisClient } from '@tm/route-cache';
import { TestRedisCluster, TestRedisServer, TestStack } from '@tm/testing';
import { eventually, metric, write } from './support';

/**
 * G6 across a failover that loses applied events: the worker applied (and committed) an event on a
 * master whose replica was not receiving it, the master dies, the replica is promoted with the older
 * answer, and no event of that route will come again. The worker notices the new master (its run
 * id) and replays the recent events: the entry equals the database again.
 */
describe('invalidation worker on a Redis Cluster that fails over (processes)', () => {
  let cluster: TestRedisCluster;
  let stack: TestStack;
  beforeAll(async () => {
    cluster = await TestRedisCluster.start();
    stack = await TestStack.start({
      apps: ['command-api', 'outbox-relay', 'invalidation-worker'],
      env: { REDIS_URL: cluster.url, WORKER_REDIS_CHECK_INTERVAL_MS: '200' },
    });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await cluster?.stop();
  });

  const key = (route: string) => `${stack.environment.keyPrefix}route:{${route}}`;
  const field = async (port: number, route: string, name: string) => cluster.command(port, ['HGET', key(route), name]);

  it('events reach the cluster, each on its route slot', async () => {
    const routes = ['acme/a/prod', 'acme/b/prod', 'globex/c/dev', 'initech/d/eu'];
    const revisions = new Map<string, number>();
    for (const route of routes) revisions.set(route, (await write(stack.app('command-api'), route, `https://${route.replace(/\//g, '-')}/`)).revision);
    for (const route of routes) {
      await eventually(async () => (await field(await cluster.masterOf(key(route)), route, 'asof')) === String(revisions.get(route)), 20_000, `${route} applied`);
    }
  });

  /**
   * Writes `route` twice: the second event is applied on its master alone (the replica cut off),
   * then (after `beforeKill`) the master dies and the replica is promoted without it.
   */
  async function failoverLosingSecond(route: string, beforeKill: () => Promise<unknown> = () => Promise.resolve()) {
    const first = await write(stack.app('command-api'), route, 'https://first/');
    const master = await cluster.masterOf(key(route));
    await eventually(async () => (await field(master, route, 'asof')) === String(first.revision), 20_000, 'the first event applied');
    const replica = await cluster.replicaOf(master);
    await cluster.detachReplica(master, replica);
    let second: { revision: number };
    try {
      second = await write(stack.app('command-api'), route, 'https://second/');
      await eventually(async () => (await field(master, route, 'asof')) === String(second.revision), 20_000, 'the second event applied on the master');
      await beforeKill();
    } finally {
      await cluster.kill(master);
      cluster.thaw(replica);
    }
    expect(await cluster.waitForPromotion(master)).toBe(replica);
    return { first: first.revision, second: second.revision, master, replica };
  }

  it('a failover that lost an applied event: the worker replays it and the entry equals the database', async () => {
    const route = 'acme/failover/prod';
    const { second, master, replica } = await failoverLosingSecond(route);
    // The promoted replica never got the second event: without a replay it would keep the first answer.
    const kept = await field(replica, route, 'asof');
    expect(Number(kept)).toBeLessThanOrEqual(second);
    await eventually(async () => (await field(replica, route, 'asof')) === String(second), 30_000, 'the lost event replayed');
    expect(await field(replica, route, 'u')).toBe('https://second/');
    // The replay counts itself once every partition is done, just after the entry came back.
    await eventually(async () => ((await metric(stack.app('invalidation-worker'), 'tm_worker_replays_total')) ?? 0) >= 1, 30_000, 'the replay counted');
    await cluster.restart(master);
  }, 90_000);

  it('a failover while the worker was stopped: the worker that starts after it replays (the marker in Redis names other masters)', async () => {
    const route = 'acme/asleep/prod';
    const { first, second, master, replica } = await failoverLosingSecond(route, () => stack.app('invalidation-worker').stop());
    expect(await field(replica, route, 'asof')).toBe(String(first));
    await stack.restart('invalidation-worker');
    await eventually(async () => (await field(replica, route, 'asof')) === String(second), 30_000, 'the lost event replayed');
    expect(await field(replica, route, 'u')).toBe('https://second/');
    await cluster.restart(master);
  }, 90_000);
});

/**
 * The same on a single Redis restarted without data while the worker was stopped: an answer older
 * than the database is left in it (what a lagging replica, or a fill from before the loss, keeps),
 * and the worker's committed offset is past the event that would replace it. The worker that starts
 * finds no replay marker and replays: after the drain the entry equals the database (G6).
 */
describe('invalidation worker started after a Redis restart without data (processes)', () => {
  let server: TestRedisServer;
  let stack: TestStack;
  let redis: RedisClient;
  beforeAll(async () => {
    server = await TestRedisServer.start();
    stack = await TestStack.start({ apps: ['command-api', 'outbox-relay', 'invalidation-worker'], env: { REDIS_URL: server.url } });
    redis = createRedisClient({ url: server.url });
    redis.on('error', () => undefined);
    await redis.connect();
  }, 120_000);
  afterAll(async () => {
    redis?.destroy();
    await stack?.stop();
    await server?.stop();
  });

  const field = async (route: string, name: string) => {
    try {
      return await redis.hGet(`${stack.environment.keyPrefix}route:{${route}}`, name);
    } catch {
      return undefined;
    }
  };

  it('the worker replays at start: the entry left behind the database equals it after the drain', async () => {
    const route = 'acme/restarted/prod';
    const first = await write(stack.app('command-api'), route, 'https://first/');
    const second = await write(stack.app('command-api'), route, 'https://second/');
    await eventually(async () => (await field(route, 'asof')) === String(second.revision), 20_000, 'both events applied');
    await stack.app('invalidation-worker').stop();
    await server.kill();
    await server.restart();
    // The answer of the first write, behind the database, as a lagging replica would have kept it.
    const cache = new RouteCache(redis, stack.environment.keyPrefix, 86_400_000);
    await eventually(async () => (await cache.applyEvents([{ data: { tenant: 'acme', service: 'restarted', environment: 'prod', url: 'https://first/', revision: first.revision }, time: Date.now() }], 'refresh').catch(() => [])).length === 1, 20_000, 'the old answer written');
    expect(await field(route, 'asof')).toBe(String(first.revision));
    await stack.restart('invalidation-worker');
    await eventually(async () => (await field(route, 'asof')) === String(second.revision), 30_000, 'the lost event replayed');
    expect(await field(route, 'u')).toBe('https://second/');
    await eventually(async () => ((await metric(stack.app('invalidation-worker'), 'tm_worker_replays_total')) ?? 0) >= 1, 30_000, 'the replay counted');
  }, 90_000);
});
