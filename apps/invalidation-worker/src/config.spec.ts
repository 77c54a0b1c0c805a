import { DefaultPorts } from '@tm/contracts';
import { ConfigError, validateConfig } from '@tm/platform';
import { InvalidationWorkerConfig } from './config';

const env = { REDIS_URL: 'redis://127.0.0.1:6379', KAFKA_BROKERS: '127.0.0.1:9092' };

describe('InvalidationWorkerConfig', () => {
  it('reads its own variables and the shared Kafka ones, with their defaults', () => {
    const config = validateConfig(InvalidationWorkerConfig, { ...env, KAFKA_REPLICATION_FACTOR: '3' });
    expect(config).toMatchObject({
      INVALIDATION_WORKER_PORT: DefaultPorts.invalidationWorker,
      KAFKA_CONSUMER_GROUP: 'tm-invalidation-worker',
      INVALIDATION_MODE: 'refresh',
      KAFKA_BROKERS: '127.0.0.1:9092',
      KAFKA_SSL: false,
      KAFKA_REPLICATION_FACTOR: 3,
      LOG_LEVEL: 'info',
    });
  });

  it.each([
    [{ KAFKA_BROKERS: '127.0.0.1:9092' }, 'REDIS_URL is required'],
    [{ REDIS_URL: env.REDIS_URL }, 'KAFKA_BROKERS is required'],
    [{ ...env, KAFKA_SSL: 'on' }, 'KAFKA_SSL is invalid: expected true or false'],
    [{ ...env, KAFKA_MIN_INSYNC_REPLICAS: 'two' }, 'KAFKA_MIN_INSYNC_REPLICAS is invalid: expected a whole number from 1 to KAFKA_REPLICATION_FACTOR'],
    [{ ...env, WORKER_COMMIT_INTERVAL_MS: '60000' }, 'WORKER_COMMIT_INTERVAL_MS is invalid: expected a whole number from 0 to 10000'],
  ])('fails with one line naming the variable: %j', (bad, expected) => {
    expect(() => validateConfig(InvalidationWorkerConfig, bad)).toThrow(ConfigError);
    expect(() => validateConfig(InvalidationWorkerConfig, bad)).toThrow(expected);
  });
});
