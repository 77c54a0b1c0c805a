import { TEST_ADMIN_TOKEN, TestRedisServer, TestStack, type AppProcess } from '@tm/testing';
import { eventually, write } from './support';

async function resolve(resolver: AppProcess, route: string): Promise<{ status: number; cache: string | null; revision: number; url: unknown }> {
  const res = await fetch(`${resolver.url}/v1/resolve/${route}`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
  const body = (await res.json()) as { url?: unknown };
  return { status: res.status, cache: res.headers.get('x-cache'), revision: Number(res.headers.get('x-route-revision')), url: body.url };
}

/** The whole read path as processes: command API, relay, worker, resolver, over a Redis of the test's own. */
describe('read path (processes)', () => {
  let stack: TestStack;
  let redis: TestRedisServer;
  beforeAll(async () => {
    redis = await TestRedisServer.start();
    stack = await TestStack.start({ env: { REDIS_URL: redis.url, REDIS_BREAKER_OPEN_MS: '300' } });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await redis?.stop();
  });

  it('a missing route is a cached 404; once created, the resolver answers 200 within the convergence time', async () => {
    const before = await resolve(stack.app('resolver'), 'acme/web/prod');
    expect(before.status).toBe(404);
    expect((await resolve(stack.app('resolver'), 'acme/web/prod')).cache).toBe('HIT');
    const put = await write(stack.app('command-api'), 'acme/web/prod', 'https://web.acme.internal/');
    await eventually(async () => {
      const r = await resolve(stack.app('resolver'), 'acme/web/prod');
      return r.status === 200 && r.revision === put.revision && r.cache === 'HIT';
    }, 5_000, 'the resolver answering the new route from the cache');
  });

  it('updates converge: every write is answered from the cache within the convergence time', async () => {
    for (let i = 0; i < 20; i++) {
      const put = await write(stack.app('command-api'), 'acme/web/prod', `https://v${i}.acme.internal/`);
      await eventually(async () => (await resolve(stack.app('resolver'), 'acme/web/prod')).revision === put.revision, 5_000, `revision ${put.revision}`);
    }
  });

  it('Redis killed: answers go on as BYPASS; Redis back: HIT again', async () => {
    await redis.kill();
    // An answer in the moment before the resolver's Redis client sees its connection close may still
    // come from the replica's memory (current as of its change feed); from then on, the database.
    await eventually(async () => (await resolve(stack.app('resolver'), 'acme/web/prod')).cache === 'BYPASS', 5_000, 'BYPASS once Redis is gone');
    for (let i = 0; i < 5; i++) {
      const r = await resolve(stack.app('resolver'), 'acme/web/prod');
      expect(r.status).toBe(200);
      expect(r.cache).toBe('BYPASS');
    }
    const put = await write(stack.app('command-api'), 'acme/web/prod', 'https://during-outage.acme.internal/');
    expect((await resolve(stack.app('resolver'), 'acme/web/prod')).revision).toBe(put.revision);
    await redis.restart();
    await eventually(async () => (await resolve(stack.app('resolver'), 'acme/web/prod')).cache === 'HIT', 20_000, 'HIT after Redis is back');
    expect((await resolve(stack.app('resolver'), 'acme/web/prod')).url).toBe('https://during-outage.acme.internal/');
  });
});
