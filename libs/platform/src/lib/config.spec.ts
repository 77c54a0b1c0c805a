import { IsOptional } from 'class-validator';
import {
  BaseAppConfig,
  ConfigError,
  IsBrokerList,
  IsPort,
  IsPostgresUrl,
  IsRedisUrl,
  validateConfig,
} from './config';

class SampleConfig extends BaseAppConfig {
  @IsPostgresUrl()
  DATABASE_URL!: string;

  @IsRedisUrl()
  REDIS_URL!: string;

  @IsBrokerList()
  KAFKA_BROKERS!: string;

  @IsOptional()
  @IsPort()
  PORT = 3000;
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
