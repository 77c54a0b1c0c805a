import type { Consumer } from 'kafkajs';
import { TestKafkaBroker, testTopic } from '@tm/testing';
import { createKafka, kafkaOptions, KafkaReadiness, type KafkaConnectionConfig } from './kafka.module';
import { OrderedProducer } from './producer';

const PASSWORD = 'tm-sasl-secret-1';

// A broker whose only client listener is SASL_PLAINTEXT with the PLAIN mechanism: the producer
// and the consumer get through with the configured user, and a wrong password is a clear error
// (readiness says why), not a hang.
describe('Kafka with SASL/PLAIN credentials', () => {
  let broker: TestKafkaBroker;

  beforeAll(async () => {
    broker = await TestKafkaBroker.start({ saslPlain: { users: { admin: 'admin-secret', tm: PASSWORD } } });
  }, 240_000);

  afterAll(async () => {
    await broker?.stop();
  }, 120_000);

  const config = (overrides: Partial<KafkaConnectionConfig>): KafkaConnectionConfig => ({
    KAFKA_BROKERS: broker.brokers,
    KAFKA_SSL: false,
    KAFKA_SSL_REJECT_UNAUTHORIZED: true,
    KAFKA_SASL_MECHANISM: 'plain',
    KAFKA_SASL_USERNAME: 'tm',
    KAFKA_SASL_PASSWORD: PASSWORD,
    ...overrides,
  });

  it('publishes and consumes with the right user and password', async () => {
    const kafka = createKafka(kafkaOptions(config({}), 'test-sasl'));
    const readiness = new KafkaReadiness(kafka);
    const producer = new OrderedProducer(kafka);
    const admin = kafka.admin();
    let consumer: Consumer | undefined;
    const topic = testTopic();
    try {
      await expect(readiness.check()).resolves.toBeUndefined();
      await admin.connect();
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
      await producer.send(topic, [
        { key: 'acme/a/prod', value: 'one' },
        { key: 'acme/a/prod', value: 'two' },
      ]);
      const received: string[] = [];
      consumer = kafka.consumer({ groupId: `${topic}.group` });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void received.push(String(message.value)) });
      const deadline = Date.now() + 30_000;
      while (received.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(received).toEqual(['one', 'two']);
    } finally {
      await consumer?.disconnect();
      await admin.disconnect();
      await producer.disconnect();
      await readiness.onApplicationShutdown();
    }
  });

  it('refuses a wrong password with a clear error: not ready, and the send fails', async () => {
    const kafka = createKafka(kafkaOptions(config({ KAFKA_SASL_PASSWORD: 'not-the-password' }), 'test-sasl-wrong'));
    const readiness = new KafkaReadiness(kafka);
    const producer = new OrderedProducer(kafka);
    try {
      const notReady = await readiness.check().then(
        () => 'ready',
        (e: unknown) => (e as Error).message,
      );
      expect(notReady).toMatch(/SASL PLAIN authentication failed/i);
      expect(notReady).not.toContain('not-the-password');
      await expect(producer.send(testTopic(), [{ key: 'k', value: 'v' }])).rejects.toThrow(/SASL PLAIN authentication failed/i);
    } finally {
      await producer.disconnect();
      await readiness.onApplicationShutdown();
    }
  });

  it('refuses an unknown user the same way', async () => {
    const readiness = new KafkaReadiness(createKafka(kafkaOptions(config({ KAFKA_SASL_USERNAME: 'mallory' }), 'test-sasl-user')));
    try {
      await expect(readiness.check()).rejects.toThrow(/SASL PLAIN authentication failed/i);
    } finally {
      await readiness.onApplicationShutdown();
    }
  });
});

describe('kafkaOptions', () => {
  const base: KafkaConnectionConfig = { KAFKA_BROKERS: 'a:1, b:2', KAFKA_SSL: false, KAFKA_SSL_REJECT_UNAUTHORIZED: true };

  it('is plaintext without credentials by default', () => {
    expect(kafkaOptions(base, 'x')).toEqual({ brokers: ['a:1', 'b:2'], clientId: 'x' });
  });

  it('carries TLS and SASL settings', () => {
    expect(
      kafkaOptions({ ...base, KAFKA_SSL: true, KAFKA_SSL_REJECT_UNAUTHORIZED: false, KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }, 'x'),
    ).toEqual({
      brokers: ['a:1', 'b:2'],
      clientId: 'x',
      tls: { rejectUnauthorized: false },
      sasl: { mechanism: 'scram-sha-256', username: 'u', password: 'p' },
    });
  });
});
