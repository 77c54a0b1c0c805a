import type { OutgoingHttpHeaders } from 'node:http';
import { Test } from '@nestjs/testing';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import { KeyRateLimits, RATE_LIMIT_CLOCK, RATE_LIMIT_SYNC_MS } from '@tm/limits';
import { DatabaseConnector } from '@tm/persistence';
import { configureApp, fastifyAdapter, NEST_APP_OPTIONS, validateConfig } from '@tm/platform';
import { createTestDatabase, deleteKeysWithPrefix, testInfra, testKeyPrefix, type TestDatabase } from '@tm/testing';
import { WRITE_HOOKS, type WriteHooks } from './store/write-hooks';
import { AppModule } from './app.module';
import { commandApiBodyLimits, CommandApiConfig } from './config';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface Answer {
  status: number;
  headers: OutgoingHttpHeaders;
  body: unknown;
  json<T = Record<string, unknown>>(): T;
}

export interface RequestOptions {
  token?: string | null;
  headers?: Record<string, string>;
  /** A JSON body (serialised), or a raw string sent as is. */
  body?: unknown;
  raw?: string;
}

export interface StartOptions {
  hooks?: WriteHooks;
  poolSize?: number;
  databaseUrl?: (url: string) => Promise<string>;
  waitForDatabase?: boolean;
  /** More configuration (TENANT_MAX_ROUTES, RATE_LIMIT_PER_KEY, ...). */
  env?: Record<string, string>;
  /** The app's REDIS_URL (default: the shared test Redis, under a key prefix of the test's own). */
  redisUrl?: string;
  /**
   * The rate limiter's clock. Given, the replicas do not reconcile on their own: the test calls
   * `syncRateLimits()` where it wants the reconciliation to happen.
   */
  rateLimitClock?: () => number;
}

/** The command API in-process (Nest on Fastify, as main.ts builds it) against a database of its own. */
export class CommandApiUnderTest {
  private constructor(
    readonly app: NestFastifyApplication,
    readonly database: TestDatabase,
    readonly db: Client,
    /** CACHE_KEY_PREFIX: the test's own. */
    readonly keyPrefix: string,
    /** A replica (replicaOf) leaves the database and the keys to the instance it copies. */
    private readonly replica: boolean,
  ) {}

  static async start(options: StartOptions = {}): Promise<CommandApiUnderTest> {
    const database = await createTestDatabase();
    const keyPrefix = testKeyPrefix();
    // Tests that cut the database route the app through a fault proxy.
    const app = await CommandApiUnderTest.app(options.databaseUrl ? await options.databaseUrl(database.url) : database.url, keyPrefix, options);
    const db = new Client({ connectionString: database.url });
    await db.connect();
    return new CommandApiUnderTest(app, database, db, keyPrefix, false);
  }

  /** Another replica of `of`: the same database and key prefix; stopping it leaves them. */
  static async replicaOf(of: CommandApiUnderTest, options: Omit<StartOptions, 'databaseUrl'> = {}): Promise<CommandApiUnderTest> {
    const app = await CommandApiUnderTest.app(of.database.url, of.keyPrefix, options);
    const db = new Client({ connectionString: of.database.url });
    await db.connect();
    return new CommandApiUnderTest(app, of.database, db, of.keyPrefix, true);
  }

  private static async app(databaseUrl: string, keyPrefix: string, options: StartOptions): Promise<NestFastifyApplication> {
    const config = validateConfig(CommandApiConfig, {
      DATABASE_URL: databaseUrl,
      REDIS_URL: options.redisUrl ?? testInfra().redisUrl,
      KAFKA_BROKERS: testInfra().kafkaBrokers,
      CACHE_KEY_PREFIX: keyPrefix,
      TM_ADMIN_TOKEN: ADMIN_TOKEN,
      LOG_LEVEL: 'silent',
      DATABASE_POOL_SIZE: String(options.poolSize ?? 10),
      ...options.env,
    });
    let builder = Test.createTestingModule({ imports: [AppModule.forRoot(config)] })
      .overrideProvider(WRITE_HOOKS)
      .useValue(options.hooks ?? {});
    if (options.rateLimitClock) {
      builder = builder.overrideProvider(RATE_LIMIT_CLOCK).useValue(options.rateLimitClock).overrideProvider(RATE_LIMIT_SYNC_MS).useValue(0);
    }
    const moduleRef = await builder.compile();
    const app = moduleRef.createNestApplication<NestFastifyApplication>(fastifyAdapter(commandApiBodyLimits(config)), NEST_APP_OPTIONS);
    configureApp(app, { title: 'Traffic Manager command API', description: 'test' });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    // The app starts without waiting for PostgreSQL; tests begin once it is connected (unless told not to).
    if (options.waitForDatabase !== false) await app.get(DatabaseConnector).connected();
    return app;
  }

  /** One reconciliation of this replica's rate-limit counts through Redis (what its timer does every 100 ms). */
  syncRateLimits(): Promise<void> {
    return this.app.get(KeyRateLimits).sync();
  }

  async request(method: 'GET' | 'PUT' | 'POST' | 'DELETE' | 'PATCH', url: string, options: RequestOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...options.headers };
    const token = options.token === undefined ? ADMIN_TOKEN : options.token;
    if (token !== null) headers['authorization'] ??= `Bearer ${token}`;
    let payload: string | undefined;
    if (options.raw !== undefined) payload = options.raw;
    else if (options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await this.app.inject({ method, url, headers, ...(payload !== undefined ? { payload } : {}) });
    const text = res.body;
    const body: unknown = text && /json/.test(String(res.headers['content-type'])) ? JSON.parse(text) : text;
    return { status: res.statusCode, headers: res.headers, body, json: <T>() => body as T };
  }

  /** Creates a key through the API (as admin) and returns its secret. */
  async createKey(scopes: string[], tenant?: string): Promise<string> {
    const res = await this.request('POST', '/v1/api-keys', { body: { name: `key-${scopes.join('-')}`, tenant, scopes } });
    if (res.status !== 201) throw new Error(`creating a key failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.json<{ key: string }>().key;
  }

  async stop(): Promise<void> {
    await this.db.end();
    await this.app.close();
    if (this.replica) return;
    await this.database.drop();
    await deleteKeysWithPrefix(this.keyPrefix);
  }
}

/** Every row of every table, to show that a refused request changed nothing. */
export async function snapshot(db: Client): Promise<Record<string, unknown[]>> {
  const tables = ['store_revision', 'tenants', 'services', 'endpoints', 'api_keys', 'outbox', 'change_sets', 'route_versions', 'audit_log'];
  const result: Record<string, unknown[]> = {};
  for (const table of tables) {
    result[table] = (await db.query(`SELECT * FROM ${table} ORDER BY 1`)).rows;
  }
  return result;
}
