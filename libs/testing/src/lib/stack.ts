import { createTestDatabase, type TestDatabase } from './database';
import { testInfra, uniqueSuffix } from './env';
import { deleteTopics, testTopic } from './kafka';
import { freeDnsPort, freePort, startApp, type AppName, type AppProcess } from './processes';
import { deleteKeysWithPrefix, testKeyPrefix } from './redis';

/** The admin token the test stack's apps accept. */
export const TEST_ADMIN_TOKEN = 'e2e-admin-token-0123456789';

/** What one test's system runs against: its own database, key prefix and topic. */
export interface TestEnvironment {
  database: TestDatabase;
  keyPrefix: string;
  topic: string;
  /** The environment the apps get. */
  env: Record<string, string>;
  /** Drops the database, deletes the keys and the topics. */
  cleanup(): Promise<void>;
}

export async function createTestEnvironment(): Promise<TestEnvironment> {
  const infra = testInfra();
  const database = await createTestDatabase();
  const keyPrefix = testKeyPrefix();
  const topic = testTopic();
  return {
    database,
    keyPrefix,
    topic,
    env: {
      DATABASE_URL: database.url,
      REDIS_URL: infra.redisUrl,
      KAFKA_BROKERS: infra.kafkaBrokers,
      CACHE_KEY_PREFIX: keyPrefix,
      KAFKA_ROUTE_EVENTS_TOPIC: topic,
      // A consumer group of its own: a worker of `npm start` on the same broker is another group.
      KAFKA_CONSUMER_GROUP: `tm-test-${uniqueSuffix()}`,
      TM_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      LOG_LEVEL: 'info',
    },
    async cleanup() {
      await Promise.all([
        database.drop(),
        deleteKeysWithPrefix(keyPrefix),
        deleteTopics([topic, `${topic}.dlq`]),
      ]);
    },
  };
}

export const ALL_APPS: AppName[] = ['command-api', 'outbox-relay', 'resolver', 'invalidation-worker'];

/** Creates a stored key through the command API with the admin token; answers the secret. */
export async function createApiKey(commandApiUrl: string, body: { name: string; scopes: string[]; tenant?: string }): Promise<string> {
  const res = await fetch(`${commandApiUrl}/v1/api-keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`POST /v1/api-keys answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { key: string }).key;
}

/** The four apps as processes against one test environment. */
export class TestStack {
  /** Further replicas (startExtra), stopped with the stack. */
  private readonly extras: AppProcess[] = [];

  private constructor(
    readonly environment: TestEnvironment,
    readonly apps: Map<AppName, AppProcess>,
    /** Overrides every app of this stack gets. */
    private readonly overrides: Record<string, string>,
    /** The command API's and the resolver's ports, chosen before either starts: each names the other. */
    private readonly ports: ReadonlyMap<AppName, number>,
    /** The resolver's DNS port (RESOLVER_DNS_PORT), UDP and TCP, kept across its restarts. */
    readonly dnsPort: number,
  ) {}

  static async start(options: { apps?: AppName[]; env?: Record<string, string> } = {}): Promise<TestStack> {
    const environment = await createTestEnvironment();
    const commandApiPort = await freePort();
    let resolverPort = await freePort();
    while (resolverPort === commandApiPort) resolverPort = await freePort();
    const ports = new Map<AppName, number>([
      ['command-api', commandApiPort],
      ['resolver', resolverPort],
    ]);
    const stack = new TestStack(environment, new Map(), options.env ?? {}, ports, await freeDnsPort());
    try {
      for (const app of options.apps ?? ALL_APPS) await stack.restart(app);
    } catch (e) {
      await stack.stop();
      throw e;
    }
    return stack;
  }

  app(name: AppName): AppProcess {
    const proc = this.apps.get(name);
    if (!proc) throw new Error(`${name} is not part of this stack`);
    return proc;
  }

  /**
   * The web console as npm start serves it: the command API's /console/ (the built bundle), calling
   * the resolver across origins (both APIs allow the command API's origins; see consoleEnv).
   */
  get consoleUrl(): string {
    return `${this.app('command-api').url}/console/`;
  }

  /**
   * What npm start gives the APIs for the console: CORS_ALLOWED_ORIGINS, the command API's own
   * origins (127.0.0.1 and localhost), to both; CONSOLE_RESOLVER_URL, the resolver, to the command API.
   */
  private consoleEnv(name: AppName): Record<string, string> {
    const commandApi = this.ports.get('command-api');
    const cors = { CORS_ALLOWED_ORIGINS: `http://127.0.0.1:${commandApi},http://localhost:${commandApi}` };
    if (name === 'command-api') return { ...cors, CONSOLE_RESOLVER_URL: `http://127.0.0.1:${this.ports.get('resolver')}` };
    return name === 'resolver' ? cors : {};
  }

  /** Starts (again) one app, on the port it had if it ran before (the command API and the resolver: on theirs). */
  async restart(name: AppName, env: Record<string, string> = {}): Promise<AppProcess> {
    const previous = this.apps.get(name);
    if (previous?.running) await previous.stop();
    // The stack's resolver answers DNS on the stack's port; any other resolver has DNS off (AppProcess).
    const dns: Record<string, string> = name === 'resolver' ? { RESOLVER_DNS_PORT: String(this.dnsPort) } : {};
    const proc = await startApp(name, { ...this.environment.env, ...this.consoleEnv(name), ...dns, ...this.overrides, ...env }, previous?.port ?? this.ports.get(name));
    this.apps.set(name, proc);
    return proc;
  }

  /** Starts one more replica of an app (on a port of its own), stopped with the stack. */
  async startExtra(name: AppName, env: Record<string, string> = {}): Promise<AppProcess> {
    const proc = await startApp(name, { ...this.environment.env, ...this.consoleEnv(name), ...this.overrides, ...env });
    this.extras.push(proc);
    return proc;
  }

  /**
   * Starts health probers (two by default, as npm start and production run them) against this
   * stack's resolver, with a stored key that spans tenants, as production gives them. They may probe
   * loopback (PROBE_ALLOW_LOOPBACK=true: tests' endpoints listen on 127.0.0.1), as npm start's do.
   * `env` per prober (its index) may add to theirs or override, such as PROBE_DENY_CIDRS or
   * PROBE_ALLOW_LOOPBACK=false.
   */
  async startProbers(count = 2, env: (index: number) => Record<string, string> = () => ({})): Promise<AppProcess[]> {
    const key = await createApiKey(this.app('command-api').url, { name: 'health-prober', scopes: ['routes:read'] });
    const probers: AppProcess[] = [];
    for (let i = 0; i < count; i++) {
      probers.push(
        await this.startExtra('health-prober', {
          RESOLVER_URL: this.app('resolver').url,
          PROBER_API_KEY: key,
          PROBER_ID: `prober-${i + 1}`,
          PROBE_ALLOW_LOOPBACK: 'true',
          ...env(i),
        }),
      );
    }
    return probers;
  }

  /** Stops every app (SIGTERM) and removes what the environment created. */
  async stop(): Promise<void> {
    await Promise.all([...this.apps.values(), ...this.extras].map((p) => p.stop()));
    await this.environment.cleanup();
  }
}
