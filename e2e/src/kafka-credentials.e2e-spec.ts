import { TestKafkaBroker, TestStack } from '@tm/testing';
import { eventually, metric, write } from './support';

const PASSWORD = 'tm-e2e-sasl-password';

// The relay and the worker against a broker that only speaks SASL_PLAINTEXT (PLAIN): with the
// configured user every write reaches the cache through Kafka. (A wrong password: sasl.int-spec.ts.)
describe('relay and worker with Kafka credentials (SASL/PLAIN)', () => {
  let broker: TestKafkaBroker;
  let stack: TestStack;
  const sasl = (password: string) => ({ KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'tm', KAFKA_SASL_PASSWORD: password });

  beforeAll(async () => {
    broker = await TestKafkaBroker.start({ saslPlain: { users: { admin: 'admin-secret', tm: PASSWORD } } });
    stack = await TestStack.start({
      apps: ['command-api', 'outbox-relay', 'invalidation-worker'],
      env: { KAFKA_BROKERS: broker.brokers, KAFKA_TOPIC_PARTITIONS: '2', ...sasl(PASSWORD) },
    });
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
    await broker?.stop();
  });

  it('publishes and consumes through the SASL listener with the right credentials', async () => {
    for (const [i, route] of ['acme/sasl/prod', 'acme/sasl/staging', 'globex/sasl/prod'].entries()) {
      expect((await write(stack.app('command-api'), route, `https://sasl-${i}.example/`)).status).toBe(201);
    }
    await eventually(async () => (await metric(stack.app('outbox-relay'), 'tm_relay_published_total')) === 3, 30_000, 'three events published');
    const applied = async () => {
      const text = await (await fetch(`${stack.app('invalidation-worker').url}/metrics`)).text();
      return /^tm_worker_events_total\{[^}]*outcome="applied"[^}]*\} 3$/m.test(text);
    };
    await eventually(applied, 60_000, 'three events applied by the worker');
  }, 180_000);
});
