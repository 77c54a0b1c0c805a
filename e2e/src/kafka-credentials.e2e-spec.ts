import { AppProcess, freePort, TestKafkaBroker, TestStack, type AppName } from '@tm/testing';
import { dlqCommand, eventually, metric, write } from './support';

const PASSWORD = 'tm-e2e-sasl-password';
const WRONG = 'wrong-e2e-sasl-password';

// The relay and the worker against a broker that only speaks SASL_PLAINTEXT (PLAIN): with the
// configured user every write reaches the cache through Kafka; with a wrong password each app
// keeps running, says why in its log (SASL PLAIN authentication failed), and its readiness names
// Kafka (down, no reason), without the password anywhere. The dlq command reaches the broker with the same settings.
describe('relay and worker with Kafka credentials (SASL/PLAIN)', () => {
  let broker: TestKafkaBroker;
  let stack: TestStack;
  const wrong: AppProcess[] = [];
  const sasl = (password: string) => ({ KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'tm', KAFKA_SASL_PASSWORD: password });

  beforeAll(async () => {
    broker = await TestKafkaBroker.start({ saslPlain: { users: { admin: 'admin-secret', tm: PASSWORD } } });
    stack = await TestStack.start({
      apps: ['command-api', 'outbox-relay', 'invalidation-worker'],
      env: { KAFKA_BROKERS: broker.brokers, KAFKA_TOPIC_PARTITIONS: '2', ...sasl(PASSWORD) },
    });
  }, 300_000);

  afterAll(async () => {
    // The broker of this file is stopped even when the stack's cleanup fails (it also deletes
    // topics on the shared broker, which may not run when this file runs alone).
    try {
      await Promise.all(wrong.map((p) => p.stop()));
      await stack?.stop();
    } finally {
      await broker?.stop();
    }
  }, 120_000);

  it('publishes and consumes through the SASL listener with the right credentials', async () => {
    for (const [i, route] of ['acme/sasl/prod', 'acme/sasl/staging', 'globex/sasl/prod'].entries()) {
      expect((await write(stack.app('command-api'), route, `https://sasl-${i}.example/`)).status).toBe(201);
    }
    await eventually(async () => (await metric(stack.app('outbox-relay'), 'tm_relay_published_total')) === 3, 30_000, 'three events published');
    const applied = async () => {
      const text = await (await fetch(`${stack.app('invalidation-worker').url}/metrics`)).text();
      return /^tm_worker_events_total\{[^}]*outcome="applied"[^}]*\} 3$/m.test(text);
    };
    // The worker's group forms on this file's own new broker (its offsets topic created first), which
    // on a loaded machine has taken over a minute.
    await eventually(applied, 150_000, 'three events applied by the worker');
  }, 200_000);

  it('npm run dlq reads the dead-letter topic through the same SASL settings; a wrong password fails without echoing it', async () => {
    const topic = stack.environment.env['KAFKA_ROUTE_EVENTS_TOPIC'] ?? '';
    const env = { KAFKA_BROKERS: broker.brokers, KAFKA_ROUTE_EVENTS_TOPIC: topic, ...sasl(PASSWORD) };
    const listed = await dlqCommand(['list'], env);
    expect(listed).toMatchObject({ code: 0, stdout: '' });
    expect(listed.stderr).toContain(`no dead letters in ${topic}.dlq`);
    const refused = await dlqCommand(['list'], { ...env, ...sasl(WRONG) });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/SASL PLAIN authentication failed/i);
    expect(refused.stderr + refused.stdout).not.toContain(WRONG);
    const unconfigured = await dlqCommand(['list'], { KAFKA_BROKERS: broker.brokers, KAFKA_SASL_MECHANISM: 'PLAIN' });
    expect(unconfigured).toMatchObject({ code: 2, stderr: expect.stringContaining('KAFKA_SASL_USERNAME is required') });
  }, 120_000);

  it.each<AppName>(['outbox-relay', 'invalidation-worker'])('%s with a wrong password stays up, not ready, naming Kafka and why', async (app) => {
    const proc = new AppProcess(app, await freePort(), { ...stack.environment.env, KAFKA_BROKERS: broker.brokers, ...sasl(WRONG) });
    wrong.push(proc);
    let body = '';
    await eventually(
      async () => {
        const res = await fetch(`${proc.url}/health/ready`).catch(() => undefined);
        if (!res) return false;
        body = await res.text();
        if (res.status !== 503) return false;
        const kafka = (JSON.parse(body) as { error?: { kafka?: object } }).error?.kafka;
        // Named and down, nothing more: the reason (SASL's) is in the log, never in the public answer.
        return JSON.stringify(kafka) === JSON.stringify({ status: 'down' });
      },
      150_000,
      `${app} not ready because of Kafka`,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}; last answer: ${body}`);
    });
    await eventually(() => proc.output.some((l) => /SASL PLAIN authentication failed/i.test(l)), 60_000, 'the reason in the log');
    expect(proc.running).toBe(true);
    expect(body).not.toContain(WRONG);
    expect(body).not.toMatch(/SASL|authentication/i);
    expect(proc.output.filter((l) => l.includes(WRONG))).toEqual([]);
  }, 240_000);
});
