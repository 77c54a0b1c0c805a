import { DefaultPorts } from '@tm/contracts';
import { ConfigError, validateConfig } from '@tm/platform';
import { OutboxRelayConfig } from './config';

const env = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/tm', KAFKA_BROKERS: '127.0.0.1:9092' };

describe('OutboxRelayConfig', () => {
  it('reads its own variables and the shared Kafka ones, with their defaults', () => {
    const config = validateConfig(OutboxRelayConfig, { ...env, KAFKA_SSL: 'true', RELAY_BATCH_SIZE: '50' });
    expect(config).toMatchObject({
      OUTBOX_RELAY_PORT: DefaultPorts.outboxRelay,
      DATABASE_POOL_SIZE: 4,
      RELAY_BATCH_SIZE: 50,
      KAFKA_BROKERS: '127.0.0.1:9092',
      KAFKA_SSL: true,
      KAFKA_TOPIC_PARTITIONS: 6,
      SHUTDOWN_TIMEOUT_MS: 10_000,
    });
  });

  it.each([
    [{ KAFKA_BROKERS: '127.0.0.1:9092' }, 'DATABASE_URL is required'],
    [{ DATABASE_URL: env.DATABASE_URL }, 'KAFKA_BROKERS is required'],
    [{ ...env, KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'tm' }, 'KAFKA_SASL_PASSWORD is required: expected the SASL password'],
    [{ ...env, RELAY_BATCH_SIZE: '0' }, 'RELAY_BATCH_SIZE is invalid: expected a whole number from 1 to 10000'],
  ])('fails with one line naming the variable: %j', (bad, expected) => {
    expect(() => validateConfig(OutboxRelayConfig, bad)).toThrow(ConfigError);
    expect(() => validateConfig(OutboxRelayConfig, bad)).toThrow(expected);
  });
});
