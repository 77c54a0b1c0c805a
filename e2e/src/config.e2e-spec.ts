import { createTestEnvironment, runToExit, type AppName, type TestEnvironment } from '@tm/testing';

/** Each app refuses a bad configuration with one clear line on stderr and exit status 1. */
describe('configuration checked at start', () => {
  let environment: TestEnvironment;
  beforeAll(async () => {
    environment = await createTestEnvironment();
  });
  afterAll(() => environment.cleanup());

  /** A prober's own variables, but for RESOLVER_URL (each case sets what it checks). */
  const PROBER = { PROBER_API_KEY: 'prober-config-test-key-0123' };
  const cases: [AppName, Record<string, string | undefined>, RegExp][] = [
    ['resolver', { REDIS_URL: 'notaurl' }, /^resolver: invalid configuration: REDIS_URL is invalid: expected a redis:\/\//],
    ['invalidation-worker', { REDIS_URL: 'notaurl' }, /^invalidation-worker: invalid configuration: REDIS_URL is invalid/],
    ['command-api', { DATABASE_URL: 'mysql://root@127.0.0.1/x' }, /^command-api: invalid configuration: DATABASE_URL is invalid: expected a postgres:\/\//],
    ['command-api', { DATABASE_URL: undefined }, /^command-api: invalid configuration: DATABASE_URL is required/],
    ['command-api', { COMMAND_API_PORT: '70000' }, /^command-api: invalid configuration: COMMAND_API_PORT is invalid: expected a whole number from 1 to 65535/],
    ['command-api', { REDIS_URL: 'redis//127.0.0.1' }, /^command-api: invalid configuration: REDIS_URL is invalid: expected a redis:\/\//],
    ['command-api', { REDIS_URL: undefined }, /^command-api: invalid configuration: REDIS_URL is required/],
    ['command-api', { TENANT_MAX_ROUTES: '0' }, /^command-api: invalid configuration: TENANT_MAX_ROUTES is invalid: expected a whole number from 1 to 10000000/],
    ['command-api', { PROBE_MAX_TIMEOUT_SECONDS: '2.5' }, /^command-api: invalid configuration: PROBE_MAX_TIMEOUT_SECONDS is invalid: expected a whole number from 1 to 3600/],
    ['resolver', { RATE_LIMIT_PER_KEY: 'lots' }, /^resolver: invalid configuration: RATE_LIMIT_PER_KEY is invalid: expected a whole number from 1 to 1000000/],
    ['outbox-relay', { KAFKA_BROKERS: 'localhost' }, /^outbox-relay: invalid configuration: KAFKA_BROKERS is invalid: expected a comma-separated list of host:port/],
    ['outbox-relay', { KAFKA_BROKERS: undefined }, /^outbox-relay: invalid configuration: KAFKA_BROKERS is required/],
    ['resolver', { LOG_LEVEL: 'chatty' }, /^resolver: invalid configuration: LOG_LEVEL is invalid: expected one of/],
    ['invalidation-worker', { SHUTDOWN_TIMEOUT_MS: '-5' }, /^invalidation-worker: invalid configuration: SHUTDOWN_TIMEOUT_MS is invalid/],
    ['outbox-relay', { KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'tm' }, /^outbox-relay: invalid configuration: KAFKA_SASL_PASSWORD is required: expected the SASL password/],
    ['invalidation-worker', { KAFKA_SASL_MECHANISM: 'plain' }, /^invalidation-worker: invalid configuration: KAFKA_SASL_USERNAME is required/],
    ['invalidation-worker', { KAFKA_SSL: 'on' }, /^invalidation-worker: invalid configuration: KAFKA_SSL is invalid: expected true or false/],
    ['invalidation-worker', { WORKER_COMMIT_INTERVAL_MS: '60000' }, /^invalidation-worker: invalid configuration: WORKER_COMMIT_INTERVAL_MS is invalid: expected a whole number from 0 to 10000/],
    ['invalidation-worker', { WORKER_MESSAGE_MAX_ATTEMPTS: '0' }, /^invalidation-worker: invalid configuration: WORKER_MESSAGE_MAX_ATTEMPTS is invalid: expected a whole number from 1 to 100/],
    ['outbox-relay', { KAFKA_REPLICATION_FACTOR: '3', KAFKA_MIN_INSYNC_REPLICAS: '4' }, /^outbox-relay: invalid configuration: KAFKA_MIN_INSYNC_REPLICAS is invalid: expected a whole number from 1 to KAFKA_REPLICATION_FACTOR/],
    ['invalidation-worker', { KAFKA_MIN_INSYNC_REPLICAS: 'two' }, /^invalidation-worker: invalid configuration: KAFKA_MIN_INSYNC_REPLICAS is invalid: expected a whole number from 1 to KAFKA_REPLICATION_FACTOR/],
    ['health-prober', { ...PROBER }, /^health-prober: invalid configuration: RESOLVER_URL is required/],
    ['health-prober', { ...PROBER, RESOLVER_URL: 'ftp://resolver' }, /^health-prober: invalid configuration: RESOLVER_URL is invalid: expected the resolver's http\(s\) base URL/],
    ['health-prober', { ...PROBER, RESOLVER_URL: 'http://127.0.0.1:3001', PROBER_API_KEY: undefined }, /^health-prober: invalid configuration: PROBER_API_KEY is required/],
    ['health-prober', { ...PROBER, RESOLVER_URL: 'http://127.0.0.1:3001', PROBE_DENY_CIDRS: '169.254.0.0/99' }, /^health-prober: invalid configuration: PROBE_DENY_CIDRS is invalid: expected comma-separated address\/prefix CIDRs/],
    ['health-prober', { ...PROBER, RESOLVER_URL: 'http://127.0.0.1:3001', PROBE_MAX_IN_FLIGHT: '0' }, /^health-prober: invalid configuration: PROBE_MAX_IN_FLIGHT is invalid: expected a whole number from 1 to 10000/],
    ['health-prober', { ...PROBER, RESOLVER_URL: 'http://127.0.0.1:3001', PROBE_ALLOW_CIDRS: '10.0.0.0/8,0177.0.0.0/8' }, /^health-prober: invalid configuration: PROBE_ALLOW_CIDRS is invalid: expected comma-separated address\/prefix CIDRs/],
    ['health-prober', { ...PROBER, RESOLVER_URL: 'http://127.0.0.1:3001', PROBE_ALLOW_LOOPBACK: 'yes' }, /^health-prober: invalid configuration: PROBE_ALLOW_LOOPBACK is invalid: expected true or false/],
    ['health-prober', { ...PROBER, RESOLVER_URL: 'http://127.0.0.1:3001', PROBE_MAX_TIMEOUT_SECONDS: '0' }, /^health-prober: invalid configuration: PROBE_MAX_TIMEOUT_SECONDS is invalid: expected a whole number from 1 to 3600/],
  ];

  it.each(cases)('%s with %p', async (app, override, expected) => {
    const env: Record<string, string> = { ...environment.env };
    for (const [key, value] of Object.entries(override)) {
      if (value === undefined) delete env[key];
      else env[key] = value;
    }
    const result = await runToExit(app, env);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const lines = result.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(expected);
  });

  it('does not print a secret it refuses', async () => {
    const result = await runToExit('command-api', { ...environment.env, DATABASE_URL: 'mysql://user:hunter2@db/x' });
    expect(result.code).toBe(1);
    expect(result.stderr).not.toContain('hunter2');
  });

  it('the prober does not print the API key it is given', async () => {
    const result = await runToExit('health-prober', { ...environment.env, RESOLVER_URL: 'nope', PROBER_API_KEY: 'hunter2-prober-key-0123' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/RESOLVER_URL is invalid/);
    expect(result.stderr).not.toContain('hunter2-prober-key');
  });

  it('does not print a Kafka password it refuses', async () => {
    const result = await runToExit('outbox-relay', { ...environment.env, KAFKA_SASL_MECHANISM: 'gssapi', KAFKA_SASL_USERNAME: 'tm', KAFKA_SASL_PASSWORD: 'hunter2-kafka' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/KAFKA_SASL_MECHANISM is invalid/);
    expect(result.stderr).not.toContain('hunter2-kafka');
  });
});
