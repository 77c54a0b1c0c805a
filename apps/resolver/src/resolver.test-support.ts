import type { OutgoingHttpHeaders } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Test } from '@nestjs/testing';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { inject } from 'light-my-request';
import { Client } from 'pg';
import { generateApiKey } from '@tm/auth';
import { primaryEndpoint, routeEvent, routeKey, type RouteEventData, type RouteId, type TrafficPolicy } from '@tm/contracts';
import { RATE_LIMIT_CLOCK, RATE_LIMIT_SYNC_MS } from '@tm/limits';
import { configureApp, fastifyAdapter, frontDoorOf, NEST_APP_OPTIONS, validateConfig } from '@tm/platform';
import { DatabaseConnector } from '@tm/persistence';
import { createRedisClient, REDIS_CLIENT, RouteCache, type EventOutcome, type InvalidationMode, type RedisClient } from '@tm/route-cache';
import { createTestDatabase, deleteKeysWithPrefix, testInfra, testKeyPrefix, type TestDatabase } from '@tm/testing';
import { AppModule } from './app.module';
import { ResolverConfig } from './config';
import { LOCAL_CLOCK, monotonicClock, type LocalClock } from './resolve/database-clock';
import { LocalRouteCache } from './resolve/local-cache';
import { RESOLVER_HOOKS, type ResolverHooks } from './resolve/resolver-hooks';
import { ChangeFeed } from './watch/change-feed';
import { WATCH_HOOKS, type WatchHooks } from './watch/watch-hooks';
import { OpenTenants } from './dns/open-tenants';

export const ADMIN_TOKEN = 'resolver-admin-token-0123456789';

interface StartOptions {
  hooks?: ResolverHooks;
  env?: Record<string, string>;
  databaseUrl?: (url: string) => Promise<string>;
  /** A database of the test's own (a ReplicatedPostgres primary's) instead of a fresh one on the shared server. */
  database?: TestDatabase;
  /** The app's REDIS_URL (default: the shared test Redis). */
  redisUrl?: string;
  /** `redisUrl` is a Redis of the test's own (a redis-server or a cluster): the test's side uses it too, and no keys are cleaned. */
  ownRedis?: boolean;
  /** Wait until the app has connected to PostgreSQL (default true). */
  waitForDatabase?: boolean;
  /** The app's local clock (default: the monotonic one): a skewed machine. */
  localClock?: LocalClock;
  watchHooks?: WatchHooks;
  /** The rate limiter's clock; given, the replica reconciles only when the test says (KeyRateLimits.sync). */
  rateLimitClock?: () => number;
}

export interface ResolveRequest {
  /** The bearer key (default: the admin token). */
  token?: string;
  headers?: Record<string, string>;
  query?: string;
}

/**
 * The resolver without its memory of answers (CACHE_LOCAL_MAX_ROUTES=0), for tests of the Redis cache
 * protocol that apply events no outbox row backs (memory follows the outbox, so it would not see them)
 * or that age entries beneath it.
 */
export const WITHOUT_MEMORY = { CACHE_LOCAL_MAX_ROUTES: '0' } as const;

/** A write's event as the worker applies it. */
export interface WrittenEvent {
  data: RouteEventData;
  time: number;
  tenantId?: string;
}

export interface Answer {
  status: number;
  headers: OutgoingHttpHeaders;
  body: Record<string, unknown>;
}

/** The resolver in-process against a database and a key prefix of its own, plus the worker's side of the cache. */
export class ResolverUnderTest {
  private constructor(
    readonly app: NestFastifyApplication,
    readonly database: TestDatabase,
    readonly db: Client,
    readonly prefix: string,
    readonly redis: RedisClient,
    /** The cache as the worker sees it (applies events). */
    readonly worker: RouteCache,
    /** A Redis of the test's own (a server or a cluster it stops itself): no keys to clean. */
    private readonly ownRedis: boolean,
  ) {}

  /** The app's own Redis client. */
  get appRedis(): RedisClient {
    return this.app.get<symbol, RedisClient>(REDIS_CLIENT);
  }

  static async start(options: StartOptions = {}): Promise<ResolverUnderTest> {
    const database = options.database ?? (await createTestDatabase());
    const prefix = testKeyPrefix();
    const app = await ResolverUnderTest.app(options.databaseUrl ? await options.databaseUrl(database.url) : database.url, prefix, options);
    const db = new Client({ connectionString: database.url });
    await db.connect();
    // The test's side talks to the same Redis, not through a fault proxy the app may be behind.
    const redis = createRedisClient({ url: options.ownRedis && options.redisUrl ? options.redisUrl : testInfra().redisUrl });
    redis.on('error', () => undefined);
    await redis.connect();
    return new ResolverUnderTest(app, database, db, prefix, redis, new RouteCache(redis, prefix, 86_400_000), options.ownRedis === true);
  }

  /**
   * Another replica of this resolver: the same database (reached at `databaseUrl`, for example through
   * a fault proxy) and cache prefix. The caller closes it (`app.close()`).
   */
  static replicaOf(of: ResolverUnderTest, databaseUrl: string, options: Omit<StartOptions, 'databaseUrl'> = {}): Promise<NestFastifyApplication> {
    return ResolverUnderTest.app(databaseUrl, of.prefix, options);
  }

  private static async app(databaseUrl: string, prefix: string, options: Omit<StartOptions, 'databaseUrl'>): Promise<NestFastifyApplication> {
    const config = validateConfig(ResolverConfig, {
      DATABASE_URL: databaseUrl,
      REDIS_URL: options.redisUrl ?? testInfra().redisUrl,
      CACHE_KEY_PREFIX: prefix,
      TM_ADMIN_TOKEN: ADMIN_TOKEN,
      LOG_LEVEL: 'silent',
      // DNS off unless the test gives it a port (freeDnsPort): in-process resolvers run side by side.
      RESOLVER_DNS_PORT: '0',
      ...options.env,
    });
    let builder = Test.createTestingModule({ imports: [AppModule.forRoot(config)] })
      .overrideProvider(RESOLVER_HOOKS)
      .useValue(options.hooks ?? {})
      .overrideProvider(LOCAL_CLOCK)
      .useValue(options.localClock ?? monotonicClock)
      .overrideProvider(WATCH_HOOKS)
      .useValue(options.watchHooks ?? {});
    if (options.rateLimitClock) {
      builder = builder.overrideProvider(RATE_LIMIT_CLOCK).useValue(options.rateLimitClock).overrideProvider(RATE_LIMIT_SYNC_MS).useValue(0);
    }
    const moduleRef = await builder.compile();
    const app = moduleRef.createNestApplication<NestFastifyApplication>(fastifyAdapter(), NEST_APP_OPTIONS);
    configureApp(app, { title: 'Traffic Manager resolver', description: 'test' });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    // The app starts without waiting for PostgreSQL; tests begin once it is connected (unless told not to).
    if (options.waitForDatabase !== false) await app.get(DatabaseConnector).connected();
    // Nor for Redis: wait for its first connection, so that a test's first request finds it.
    const redis = app.get<symbol, RedisClient>(REDIS_CLIENT) as { isReady?: boolean };
    for (const deadline = Date.now() + 10_000; redis.isReady === false && Date.now() < deadline; ) await new Promise((res) => setTimeout(res, 10));
    return app;
  }

  resolve(route: string, options: ResolveRequest = {}): Promise<Answer> {
    return resolveOn(this.app, route, options);
  }

  /**
   * Writes a route the way the command API does (clock, endpoint, outbox row in one transaction)
   * and returns the event the worker would apply.
   */
  write(route: string, url: string | null): Promise<WrittenEvent> {
    return this.commitWrite(route, async (id, revision, at) => {
      const { tenant, service, environment } = id;
      if (url === null) {
        await this.db.query(
          `DELETE FROM endpoints e USING services s, tenants t
            WHERE s.id = e.service_id AND t.id = s.tenant_id AND t.slug = $1 AND s.name = $2 AND e.environment = $3`,
          [tenant, service, environment],
        );
      } else {
        await this.ensureService(id);
        await this.db.query(
          `INSERT INTO endpoints (service_id, environment, url, revision, updated_at)
           SELECT s.id, $3, $4, $5, $6 FROM services s JOIN tenants t ON t.id = s.tenant_id WHERE t.slug = $1 AND s.name = $2
           ON CONFLICT (service_id, environment) DO UPDATE SET url = EXCLUDED.url, revision = EXCLUDED.revision, updated_at = EXCLUDED.updated_at`,
          [tenant, service, environment, url, revision, at],
        );
      }
      return { ...id, url, revision };
    });
  }

  /**
   * Writes a route with a traffic policy as the command API does (every endpoint's health begins at
   * this write's revision unless `healthRevisions` says otherwise), and returns its event.
   */
  writePolicy(route: string, policy: TrafficPolicy, healthRevisions: Record<string, number> = {}): Promise<WrittenEvent> {
    return this.commitWrite(route, async (id, revision, at) => {
      const url = primaryEndpoint(policy.endpoints).url;
      const revisions = Object.fromEntries(policy.endpoints.map((e) => [e.id, healthRevisions[e.id] ?? revision]));
      await this.ensureService(id);
      await this.db.query(
        `INSERT INTO endpoints (service_id, environment, url, policy, health_revisions, revision, updated_at)
         SELECT s.id, $3, $4, $5, $6, $7, $8 FROM services s JOIN tenants t ON t.id = s.tenant_id WHERE t.slug = $1 AND s.name = $2
         ON CONFLICT (service_id, environment) DO UPDATE
           SET url = EXCLUDED.url, policy = EXCLUDED.policy, health_revisions = EXCLUDED.health_revisions, revision = EXCLUDED.revision, updated_at = EXCLUDED.updated_at`,
        [id.tenant, id.service, id.environment, url, JSON.stringify(policy), JSON.stringify(revisions), revision, at],
      );
      return {
        ...id,
        url,
        revision,
        endpoints: policy.endpoints.map((e) => ({ ...e, healthRevision: revisions[e.id] as number })),
        healthCheck: policy.healthCheck,
      };
    });
  }

  private async ensureService({ tenant, service }: RouteId): Promise<void> {
    await this.db.query('INSERT INTO tenants (slug) VALUES ($1) ON CONFLICT DO NOTHING', [tenant]);
    await this.db.query('INSERT INTO services (tenant_id, name) SELECT id, $2 FROM tenants WHERE slug = $1 ON CONFLICT DO NOTHING', [tenant, service]);
  }

  /** One write's transaction: the next revision, `change` (which gives the event's data), the outbox row. */
  private async commitWrite(route: string, change: (id: RouteId, revision: number, at: Date) => Promise<RouteEventData>): Promise<WrittenEvent> {
    const [tenant, service, environment] = route.split('/') as [string, string, string];
    const id: RouteId = { tenant, service, environment };
    await this.db.query('BEGIN');
    try {
      const { rows } = await this.db.query<{ revision: string; at: Date }>(
        'UPDATE store_revision SET revision = revision + 1 RETURNING revision, clock_timestamp() AS at',
      );
      const revision = Number(rows[0]?.revision);
      const at = rows[0]?.at as Date;
      const data = await change(id, revision, at);
      // The tenant's id, as the command API's events carry it.
      const tenantId = (await this.db.query<{ id: string }>('SELECT id FROM tenants WHERE slug = $1', [tenant])).rows[0]?.id;
      const event = routeEvent(randomUUID(), at, data, tenantId);
      await this.db.query('INSERT INTO outbox (event_id, route_key, event_type, payload, revision, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
        event.id,
        routeKey(id),
        event.type,
        JSON.stringify(event),
        revision,
        at,
      ]);
      await this.db.query('COMMIT');
      return tenantId === undefined ? { data, time: at.getTime() } : { data, time: at.getTime(), tenantId };
    } catch (e) {
      await this.db.query('ROLLBACK');
      throw e;
    }
  }

  /**
   * Resolves once this replica's change feed has read the outbox up to `revision`: its memory of
   * answers then reflects every write up to it (as it does in production within milliseconds of the
   * commit, woken by the outbox notification).
   */
  async feedHas(revision: number, within = 10_000): Promise<void> {
    const feed = this.app.get(ChangeFeed);
    for (const deadline = Date.now() + within; (feed.proof?.revision ?? 0) < revision; ) {
      if (Date.now() > deadline) throw new Error(`the change feed did not reach revision ${revision} within ${within} ms (at ${feed.proof?.revision})`);
      feed.poke();
      await new Promise((res) => setTimeout(res, 5));
    }
  }

  /** Resolves once this replica's memory no longer answers (its feed's proof is too old: PostgreSQL cut). */
  async memoryLapsed(within = 10_000): Promise<void> {
    const local = this.app.get(LocalRouteCache);
    for (const deadline = Date.now() + within; local.answering(); ) {
      if (Date.now() > deadline) throw new Error(`the resolver's memory still answered after ${within} ms`);
      await new Promise((res) => setTimeout(res, 20));
    }
  }

  /**
   * Resolves once the app's Redis client has seen its connection go (Redis killed or cut): from then
   * on its answers are the database's (memory answers only while Redis is there).
   */
  async redisGone(within = 5_000): Promise<void> {
    const redis = this.appRedis;
    for (const deadline = Date.now() + within; redis.isReady; ) {
      if (Date.now() > deadline) throw new Error(`the app's Redis client still looked ready after ${within} ms`);
      await new Promise((res) => setTimeout(res, 5));
    }
  }

  /** Applies events as the invalidation worker does. */
  apply(events: WrittenEvent[], mode: InvalidationMode = 'refresh'): Promise<EventOutcome[]> {
    return this.worker.applyEvents(events, mode);
  }

  async createKey(scopes: string[], tenant: string): Promise<string> {
    // Keys are the command API's to create; here the row is written as it would.
    const key = generateApiKey();
    await this.db.query('INSERT INTO tenants (slug) VALUES ($1) ON CONFLICT DO NOTHING', [tenant]);
    await this.db.query(
      'INSERT INTO api_keys (lookup, secret_hash, name, tenant_id, scopes) SELECT $1, $2, $3, id, $4 FROM tenants WHERE slug = $5',
      [key.lookup, key.secretHash, 'test', scopes, tenant],
    );
    return key.key;
  }

  /** Opens `tenant` to DNS (creating it when absent), as an admin's PATCH does, and has the replica read the list now. */
  async openToDns(tenant: string, open = true): Promise<void> {
    await this.db.query('INSERT INTO tenants (slug) VALUES ($1) ON CONFLICT DO NOTHING', [tenant]);
    await this.db.query('UPDATE tenants SET dns = $2 WHERE slug = $1', [tenant, open]);
    await this.app.get(OpenTenants).refresh();
  }

  async stop(): Promise<void> {
    await this.app.close();
    await this.db.end();
    if (!this.ownRedis) await deleteKeysWithPrefix(this.prefix);
    await this.redis.close().catch(() => this.redis.destroy());
    await this.database.drop();
  }
}

/** GET /v1/resolve/<route> on `app`. */
export async function resolveOn(app: NestFastifyApplication, route: string, options: ResolveRequest = {}): Promise<Answer> {
  // Through the app's front door, as a request on its socket goes (the hit path answers there), then Fastify.
  const door = frontDoorOf(app.getHttpAdapter().getInstance());
  if (!door) throw new Error('the app has no front door (made without fastifyAdapter)');
  const res = await inject(door.listener, {
    method: 'GET',
    url: `/v1/resolve/${route}${options.query ? `?${options.query}` : ''}`,
    headers: { authorization: `Bearer ${options.token ?? ADMIN_TOKEN}`, ...options.headers },
  });
  return { status: res.statusCode, headers: res.headers, body: res.body ? (JSON.parse(res.body) as Record<string, unknown>) : {} };
}

/** A gate a hook waits on until the test opens it. */
export class Barrier {
  private release: (() => void) | undefined;
  readonly reached: Promise<void>;
  private markReached: (() => void) | undefined;
  private readonly opened: Promise<void>;

  constructor() {
    this.reached = new Promise((r) => (this.markReached = r));
    this.opened = new Promise((r) => (this.release = r));
  }

  /** Called by the code under test: signals arrival, then waits to be let through. */
  async wait(): Promise<void> {
    this.markReached?.();
    await this.opened;
  }

  open(): void {
    this.release?.();
  }
}
