import { TestRedisCluster, TestStack } from '@tm/testing';
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

  it('a failover that lost an applied event: the worker replays it and the entry equals the database', async () => {
    const route = 'acme/failover/prod';
    const first = await write(stack.app('command-api'), route, 'https://first/');
    const master = await cluster.masterOf(key(route));
    await eventually(async () => (await field(master, route, 'asof')) === String(first.revision), 20_000, 'the first event applied');
    const replica = await cluster.replicaOf(master);
    await cluster.detachReplica(master, replica);
    let second: { revision: number };
    try {
      second = await write(stack.app('command-api'), route, 'https://second/');
      await eventually(async () => (await field(master, route, 'asof')) === String(second.revision), 20_000, 'the second event applied on the master');
    } finally {
      await cluster.kill(master);
      cluster.thaw(replica);
    }
    expect(await cluster.waitForPromotion(master)).toBe(replica);
    // The promoted replica never got the second event: without a replay it would keep the first answer.
    const kept = await field(replica, route, 'asof');
    expect(Number(kept)).toBeLessThanOrEqual(second.revision);
    await eventually(async () => (await field(replica, route, 'asof')) === String(second.revision), 30_000, 'the lost event replayed');
    expect(await field(replica, route, 'u')).toBe('https://second/');
    // The replay counts itself once every partition is done, just after the entry came back.
    await eventually(async () => ((await metric(stack.app('invalidation-worker'), 'tm_worker_replays_total')) ?? 0) >= 1, 30_000, 'the replay counted');
    await cluster.restart(master);
  }, 90_000);
});
