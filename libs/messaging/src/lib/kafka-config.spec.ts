import { getMetadataStorage } from 'class-validator';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_ROUTE_EVENTS_TOPIC } from '@tm/contracts';
import { ConfigError, validateConfig } from '@tm/platform';
import { KafkaAppConfig } from './kafka-config';
import { kafkaOptions } from './kafka.module';
import { topicSettings } from './topics';

function errorOf(env: Record<string, string>): string {
  try {
    validateConfig(KafkaAppConfig, env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

const brokers = { KAFKA_BROKERS: '127.0.0.1:9092' };

describe('KafkaAppConfig', () => {
  it('has the defaults the relay and the worker had', () => {
    const config = validateConfig(KafkaAppConfig, brokers);
    expect(config).toMatchObject({
      KAFKA_BROKERS: '127.0.0.1:9092',
      KAFKA_SSL: false,
      KAFKA_SSL_REJECT_UNAUTHORIZED: true,
      KAFKA_ROUTE_EVENTS_TOPIC: DEFAULT_ROUTE_EVENTS_TOPIC,
      KAFKA_TOPIC_PARTITIONS: 6,
      KAFKA_REPLICATION_FACTOR: 1,
      LOG_LEVEL: 'info',
    });
    expect(config.KAFKA_SASL_MECHANISM).toBeUndefined();
    expect(topicSettings(config)).toEqual({ partitions: 6, replicationFactor: 1, minInsyncReplicas: 1 });
    expect(kafkaOptions(config, 'tm-test')).toEqual({ brokers: ['127.0.0.1:9092'], clientId: 'tm-test' });
  });

  it('reads TLS with a CA file and SASL in any case into the client options', () => {
    const ca = join(mkdtempSync(join(tmpdir(), 'tm-kafka-config-')), 'ca.pem');
    writeFileSync(ca, 'PEM');
    const config = validateConfig(KafkaAppConfig, {
      ...brokers,
      KAFKA_SSL: 'TRUE',
      KAFKA_SSL_CA_FILE: ca,
      KAFKA_SSL_REJECT_UNAUTHORIZED: 'false',
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: 'tm',
      KAFKA_SASL_PASSWORD: 'secret',
      KAFKA_REPLICATION_FACTOR: '3',
    });
    expect(kafkaOptions(config, 'tm-test')).toMatchObject({
      tls: { ca: 'PEM', rejectUnauthorized: false },
      sasl: { mechanism: 'scram-sha-512', username: 'tm', password: 'secret' },
    });
    expect(topicSettings(config).minInsyncReplicas).toBe(2);
  });

  it.each([
    [{}, /^KAFKA_BROKERS is required: expected a comma-separated list of host:port/],
    [{ KAFKA_BROKERS: 'localhost' }, /^KAFKA_BROKERS is invalid: expected a comma-separated list of host:port/],
    [{ ...brokers, KAFKA_SSL: 'on' }, /^KAFKA_SSL is invalid: expected true or false$/],
    [{ ...brokers, KAFKA_SSL_CA_FILE: '/nonexistent/ca.pem', KAFKA_SSL: 'true' }, /^KAFKA_SSL_CA_FILE is invalid: expected the path of a readable PEM file, with KAFKA_SSL=true$/],
    [{ ...brokers, KAFKA_SASL_MECHANISM: 'plain' }, /^KAFKA_SASL_USERNAME is required: expected the SASL user name/],
    [{ ...brokers, KAFKA_SASL_USERNAME: 'tm', KAFKA_SASL_PASSWORD: 'x' }, /^KAFKA_SASL_MECHANISM is required: expected plain, scram-sha-256, scram-sha-512/],
    [{ ...brokers, KAFKA_ROUTE_EVENTS_TOPIC: 'no spaces' }, /^KAFKA_ROUTE_EVENTS_TOPIC is invalid: expected letters, digits and \. _ : - only$/],
    [{ ...brokers, KAFKA_TOPIC_PARTITIONS: '0' }, /^KAFKA_TOPIC_PARTITIONS is invalid: expected a whole number from 1 to 1000$/],
    [{ ...brokers, KAFKA_REPLICATION_FACTOR: '11' }, /^KAFKA_REPLICATION_FACTOR is invalid: expected a whole number from 1 to 10$/],
    [{ ...brokers, KAFKA_REPLICATION_FACTOR: '3', KAFKA_MIN_INSYNC_REPLICAS: '4' }, /^KAFKA_MIN_INSYNC_REPLICAS is invalid: expected a whole number from 1 to KAFKA_REPLICATION_FACTOR$/],
  ])('refuses %j in one line: %s', (env, expected) => {
    expect(errorOf(env as Record<string, string>)).toMatch(expected);
  });

  it('never echoes the SASL password it refuses', () => {
    expect(errorOf({ ...brokers, KAFKA_SASL_MECHANISM: 'gssapi', KAFKA_SASL_USERNAME: 'tm', KAFKA_SASL_PASSWORD: 'hunter2-kafka' })).not.toContain('hunter2');
  });

  it('an app class that extends it validates its variables as its own (class-validator metadata, inherited)', () => {
    class SomeApp extends KafkaAppConfig {}
    const names = new Set(getMetadataStorage().getTargetValidationMetadatas(SomeApp, '', true, false).map((m) => m.propertyName));
    for (const name of ['KAFKA_BROKERS', 'KAFKA_SSL', 'KAFKA_SASL_PASSWORD', 'KAFKA_MIN_INSYNC_REPLICAS', 'LOG_LEVEL']) expect(names).toContain(name);
  });
});
