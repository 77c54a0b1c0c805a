import { createTestEnvironment, freePort, startApp, AppProcess, type TestEnvironment } from '@tm/testing';

/** An app whose dependency is down still starts (and is live), but is not ready. */
describe('readiness with a dependency down', () => {
  let environment: TestEnvironment;
  beforeAll(async () => {
    environment = await createTestEnvironment();
  });
  afterAll(() => environment.cleanup());

  async function notReady(app: AppProcess, dependency: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      try {
        if ((await fetch(`${app.url}/health/live`)).status === 200) break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const ready = await fetch(`${app.url}/health/ready`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { status: string; error: Record<string, { status: string }> };
    expect(body.status).toBe('error');
    expect(body.error[dependency]?.status).toBe('down');
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

  it('the resolver with both up is ready', async () => {
    const resolver = await startApp('resolver', environment.env);
    try {
      expect((await fetch(`${resolver.url}/health/ready`)).status).toBe(200);
    } finally {
      await resolver.stop();
    }
  });
});
