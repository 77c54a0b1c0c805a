import { IsOptional } from 'class-validator';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BaseAppConfig,
  ConfigError,
  IsBooleanFlag,
  IsBrokerList,
  IsKafkaCaFile,
  IsKafkaSaslMechanism,
  IsPort,
  IsPostgresUrl,
  IsPostgresUrlList,
  IsRedisUrl,
  postgresUrlList,
  RequiredWith,
  validateConfig,
  type KafkaSaslMechanism,
} from './config';

class SampleConfig extends BaseAppConfig {
  @IsPostgresUrl()
  DATABASE_URL!: string;

  @IsOptional()
  @IsPostgresUrlList()
  DATABASE_READ_URL?: string;

  @IsRedisUrl()
  REDIS_URL!: string;

  @IsBrokerList()
  KAFKA_BROKERS!: string;

  @IsOptional()
  @IsPort()
  PORT = 3000;

  @IsOptional()
  @IsBooleanFlag()
  KAFKA_SSL = false;

  @IsOptional()
  @IsKafkaCaFile()
  KAFKA_SSL_CA_FILE?: string;

  @IsKafkaSaslMechanism()
  KAFKA_SASL_MECHANISM?: KafkaSaslMechanism;

  @RequiredWith(['KAFKA_SASL_MECHANISM', 'KAFKA_SASL_PASSWORD'], 'the SASL user name')
  KAFKA_SASL_USERNAME?: string;

  @RequiredWith(['KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME'], 'the SASL password')
  KAFKA_SASL_PASSWORD?: string;
}

const good = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/tm',
  REDIS_URL: 'redis://127.0.0.1:6379',
  KAFKA_BROKERS: '127.0.0.1:9092,localhost:9093',
};

function errorOf(env: Record<string, string>): string {
  try {
    validateConfig(SampleConfig, env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('validateConfig', () => {
  it('gives typed values and defaults', () => {
    const config = validateConfig(SampleConfig, { ...good, PORT: '4000' });
    expect(config.PORT).toBe(4000);
    expect(config.LOG_LEVEL).toBe('info');
    expect(config.SHUTDOWN_TIMEOUT_MS).toBe(10_000);
  });

  it('treats an empty value as missing', () => {
    expect(validateConfig(SampleConfig, { ...good, PORT: '' }).PORT).toBe(3000);
  });

  it.each([
    [{ REDIS_URL: 'notaurl' }, /^REDIS_URL is invalid: expected a redis:\/\//],
    [{ REDIS_URL: 'http://127.0.0.1:6379' }, /^REDIS_URL is invalid/],
    [{ DATABASE_URL: 'mysql://x@y/z' }, /^DATABASE_URL is invalid: expected a postgres:\/\//],
    [{ KAFKA_BROKERS: '127.0.0.1' }, /^KAFKA_BROKERS is invalid: expected a comma-separated list/],
    [{ KAFKA_BROKERS: '127.0.0.1:99999' }, /^KAFKA_BROKERS is invalid/],
    [{ PORT: 'eighty' }, /^PORT is invalid: expected a whole number from 1 to 65535/],
    [{ PORT: '0' }, /^PORT is invalid/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL is invalid: expected one of fatal, error/],
  ])('refuses %p with one line', (override, expected) => {
    const message = errorOf({ ...good, ...override });
    expect(message).toMatch(expected);
    expect(message).not.toContain('\n');
  });

  it('names a missing variable', () => {
    const { REDIS_URL: _omit, ...rest } = good;
    expect(errorOf(rest)).toMatch(/^REDIS_URL is required/);
  });

  it('never echoes the value (it may be a secret)', () => {
    expect(errorOf({ ...good, DATABASE_URL: 'mysql://user:s3cret@db/x' })).not.toContain('s3cret');
  });
});

describe('Kafka TLS and SASL settings', () => {
  const ca = join(mkdtempSync(join(tmpdir(), 'tm-config-')), 'ca.pem');
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n');

  it('are off by default', () => {
    const config = validateConfig(SampleConfig, good);
    expect(config.KAFKA_SSL).toBe(false);
    expect(config.KAFKA_SASL_MECHANISM).toBeUndefined();
    expect(config.KAFKA_SASL_USERNAME).toBeUndefined();
  });

  it('take TLS with a CA file, and a mechanism in any case with its user and password', () => {
    const config = validateConfig(SampleConfig, {
      ...good,
      KAFKA_SSL: 'TRUE',
      KAFKA_SSL_CA_FILE: ca,
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: 'tm',
      KAFKA_SASL_PASSWORD: 'pw',
    });
    expect(config).toMatchObject({ KAFKA_SSL: true, KAFKA_SSL_CA_FILE: ca, KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'tm', KAFKA_SASL_PASSWORD: 'pw' });
  });

  it.each([
    [{ KAFKA_SSL: 'yes' }, /^KAFKA_SSL is invalid: expected true or false$/],
    [{ KAFKA_SSL_CA_FILE: '/nonexistent/ca.pem', KAFKA_SSL: 'true' }, /^KAFKA_SSL_CA_FILE is invalid: expected the path of a readable PEM file/],
    [{ KAFKA_SSL_CA_FILE: ca }, /^KAFKA_SSL_CA_FILE is invalid: .*with KAFKA_SSL=true/],
    [{ KAFKA_SASL_MECHANISM: 'gssapi', KAFKA_SASL_USERNAME: 'tm', KAFKA_SASL_PASSWORD: 'pw' }, /^KAFKA_SASL_MECHANISM is invalid: expected plain, scram-sha-256, scram-sha-512/],
    [{ KAFKA_SASL_MECHANISM: 'plain' }, /^KAFKA_SASL_USERNAME is required: expected the SASL user name \(required when KAFKA_SASL_MECHANISM or KAFKA_SASL_PASSWORD is set\)$/],
    [{ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'tm' }, /^KAFKA_SASL_PASSWORD is required: expected the SASL password/],
    [{ KAFKA_SASL_USERNAME: 'tm', KAFKA_SASL_PASSWORD: 'pw' }, /^KAFKA_SASL_MECHANISM is required: expected plain, scram-sha-256, scram-sha-512/],
  ])('refuse %p with one line', (override, expected) => {
    const message = errorOf({ ...good, ...override });
    expect(message).toMatch(expected);
    expect(message).not.toContain('\n');
  });

  it('never echo the password', () => {
    const message = errorOf({ ...good, KAFKA_SASL_MECHANISM: 'kerberos', KAFKA_SASL_USERNAME: 'tm', KAFKA_SASL_PASSWORD: 'hunter2-secret' });
    expect(message).toMatch(/^KAFKA_SASL_MECHANISM is invalid/);
    expect(message).not.toContain('hunter2-secret');
    expect(errorOf({ ...good, KAFKA_SASL_PASSWORD: 'hunter2-secret' })).not.toContain('hunter2-secret');
  });
});

describe('DATABASE_READ_URL (a list of postgres URLs)', () => {
  it('takes one or more URLs separated by commas, blanks ignored', () => {
    expect(postgresUrlList('postgres://u@r1:5432/tm')).toEqual(['postgres://u@r1:5432/tm']);
    expect(postgresUrlList(' postgres://u@r1/tm , postgresql://u:p%2Cw@r2:5433/tm ,')).toEqual(['postgres://u@r1/tm', 'postgresql://u:p%2Cw@r2:5433/tm']);
    expect(validateConfig(SampleConfig, { ...good, DATABASE_READ_URL: 'postgres://u@r1/tm,postgres://u@r2/tm' }).DATABASE_READ_URL).toBe(
      'postgres://u@r1/tm,postgres://u@r2/tm',
    );
  });

  it('refuses anything else with one line naming the variable', () => {
    expect(postgresUrlList(' , ')).toBeUndefined();
    expect(errorOf({ ...good, DATABASE_READ_URL: 'postgres://u@r1/tm,redis://r2:6379' })).toBe(
      'DATABASE_READ_URL is invalid: expected one or more postgres:// URLs separated by commas, such as postgres://user@replica-1:5432/traffic_manager,postgres://user@replica-2:5432/traffic_manager',
    );
  });
});
