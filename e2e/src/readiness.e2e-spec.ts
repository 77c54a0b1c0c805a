import { setTimeout as sleep } from 'node:timers/promises';
import { createTestEnvironment, FaultProxy, freePort, startApp, AppProcess, type AppName, type TestEnvironment } from '@tm/testing';

/** An app whose dependency is down still starts (and is live), but is not ready. */
describe('readiness with a dependency down', () => {
  let environment: TestEnvironment;
  beforeAll(async () => {
    environment = await createTestEnvironment();
  });
  afterAll(() => environment.cleanup());

  async function notReady(app: AppProcess, dependency: string): Promise<void> {
    // Generous: several apps start at once on a busy machine.
    const deadline = Date.now() + 120_000;
    for (;;) {
      try {
        if ((await fetch(`${app.url}/health/live`)).status === 200) break;
      } catch {
        if (Date.now() > deadline) throw new Error(`${app.app} without ${dependency} never answered /health/live (running: ${app.running}, ${app.output.length} lines):\n${app.output.slice(-20).join('\n')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const ready = await fetch(`${app.url}/health/ready`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { status: string; error: Record<string, { status: string }> };
    expect(body.status).toBe('error');
    // Named, down, and nothing more: why is in the app's log.
    expect(body.error[dependency]).toEqual({ status: 'down' });
    const logged = (): boolean => app.output.some((l) => l.includes(`"dependency":"${dependency}"`) && l.includes(`${dependency} is down: `));
    for (const deadline = Date.now() + 10_000; !logged() && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    expect(logged()).toBe(true);
  }

  it('the worker without Redis', async () => {
    const worker = new AppProcess('invalidation-worker', await freePort(), {
      ...environment.env,
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
    });
    try {
      await notReady(worker, 'redis');
    } finally {
      await worker.stop();
    }
  });

  it('the relay without Kafka', async () => {
    const relay = new AppProcess('outbox-relay', await freePort(), {
      ...environment.env,
      KAFKA_BROKERS: `127.0.0.1:${await freePort()}`,
    });
    try {
      await notReady(relay, 'kafka');
    } finally {
      await relay.stop();
    }
  });

  it('the command API without Redis is ready and writes (Redis holds only its rate-limit counts)', async () => {
    const fronted = await FaultProxy.forUrl(environment.env['REDIS_URL'] as string);
    fronted.proxy.refuse();
    const api = await startApp('command-api', { ...environment.env, REDIS_URL: fronted.url });
    try {
      expect((await fetch(`${api.url}/health/ready`)).status).toBe(200);
      const res = await fetch(`${api.url}/v1/routes/noredis/web/prod`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${environment.env['TM_ADMIN_TOKEN']}`, 'content-type': 'application/json' },
        body: JSON.stringify({ url: 'https://web.noredis.internal' }),
      });
      expect(res.status).toBe(201);
    } finally {
      await api.stop();
      await fronted.proxy.stop();
    }
  });

  it('the resolver with both up is ready', async () => {
    const resolver = await startApp('resolver', environment.env);
    try {
      expect((await fetch(`${resolver.url}/health/ready`)).status).toBe(200);
    } finally {
      await resolver.stop();
    }
  });

  it('every deployable starts with each of its dependencies down, stays up, and becomes ready when it returns', async () => {
    const cases: { app: AppName; dependency: 'postgres' | 'redis' | 'kafka'; variable: string }[] = [
      { app: 'command-api', dependency: 'postgres', variable: 'DATABASE_URL' },
      { app: 'resolver', dependency: 'postgres', variable: 'DATABASE_URL' },
      { app: 'resolver', dependency: 'redis', variable: 'REDIS_URL' },
      { app: 'outbox-relay', dependency: 'postgres', variable: 'DATABASE_URL' },
      { app: 'outbox-relay', dependency: 'kafka', variable: 'KAFKA_BROKERS' },
      { app: 'invalidation-worker', dependency: 'redis', variable: 'REDIS_URL' },
      { app: 'invalidation-worker', dependency: 'kafka', variable: 'KAFKA_BROKERS' },
    ];
    const started: { app: AppProcess; dependency: string; proxy: FaultProxy }[] = [];
    const front = async (dependency: string, value: string): Promise<{ proxy: FaultProxy; url: string }> => {
      if (dependency !== 'kafka') return FaultProxy.forUrl(value);
      const [host, port] = (value.split(',')[0] as string).split(':') as [string, string];
      const proxy = await FaultProxy.start(host, Number(port));
      return { proxy, url: `127.0.0.1:${proxy.port}` };
    };
    try {
      for (const c of cases) {
        // The dependency behind a proxy that refuses every connection until it is restored.
        const fronted = await front(c.dependency, environment.env[c.variable] as string);
        fronted.proxy.refuse();
        const app = new AppProcess(c.app, await freePort(), { ...environment.env, [c.variable]: fronted.url });
        started.push({ app, dependency: c.dependency, proxy: fronted.proxy });
        await notReady(app, c.dependency);
      }
      // Longer than any start-up retry budget a library would give up after (TypeORM's was 10 s).
      await sleep(12_000);
      for (const s of started) {
        expect({ app: s.app.app, dependency: s.dependency, running: s.app.running }).toEqual({ app: s.app.app, dependency: s.dependency, running: true });
        expect((await fetch(`${s.app.url}/health/live`)).status).toBe(200);
      }
      for (const s of started) s.proxy.restore();
      for (const s of started) await s.app.waitReady(30_000);
    } finally {
      for (const s of started) {
        await s.app.stop();
        await s.proxy.stop();
      }
    }
  }, 360_000);
});
