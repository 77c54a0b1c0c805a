import {
  HttpStatus,
  Inject,
  Injectable,
  Logger,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { Counter, type Registry } from 'prom-client';
import { METRICS_REGISTRY, ProblemException, withTimeout } from '@tm/platform';
import { quotaRefusals } from './quota-metrics';
import { RateLimiter } from './rate-limiter';
import { createLimitsRedis, RedisSharedCounts, type LimitsRedis } from './redis-counts';

/**
 * The limiter AuthGuard asks about every authenticated request (but the admin token's), once the
 * key is known. An app that provides none is not limited.
 */
export interface RequestLimiter {
  /** Counts a request of key `keyId` (of `tenant`, null: bound to none); throws the 429 problem when the key is over its limit. */
  admit(keyId: string, tenant: string | null): void;
  /** Counts a request of `keyId` and answers true, or answers false (nothing counted, nothing refused yet: admit() then refuses it). */
  tryAdmit(keyId: string): boolean;
}

export const REQUEST_LIMITER = Symbol('REQUEST_LIMITER');

export interface RateLimitOptions {
  /** The app: each API counts the requests it answers. */
  app: string;
  /** RATE_LIMIT_PER_KEY: requests per key per second. */
  limit: number;
  /** REDIS_URL: where the replicas reconcile their counts. */
  redisUrl: string;
  /** CACHE_KEY_PREFIX. */
  keyPrefix: string;
}

const RATE_LIMIT_OPTIONS = Symbol('RATE_LIMIT_OPTIONS');
const RATE_LIMIT_REDIS = Symbol('RATE_LIMIT_REDIS');
/** The limiter's clock (ms since the epoch); tests give a clock of their own. */
export const RATE_LIMIT_CLOCK = Symbol('RATE_LIMIT_CLOCK');
/** How often the replicas reconcile (ms); 0: never on its own (tests call `sync` themselves). */
export const RATE_LIMIT_SYNC_MS = Symbol('RATE_LIMIT_SYNC_MS');

/** The contract's "at least every 100 ms". */
const SYNC_INTERVAL_MS = 100;
/** How often a client that is not connecting is told to connect (a cluster down at start). */
const RECONNECT_MS = 2_000;
/** A sync that Redis does not answer within this is given up (the next tick tries again). */
const SYNC_TIMEOUT_MS = 500;

export function rateLimited(limit: number, retryAfterSeconds: number): ProblemException {
  return new ProblemException(
    HttpStatus.TOO_MANY_REQUESTS,
    'Too Many Requests',
    `this key made ${limit} requests this second, its most (RATE_LIMIT_PER_KEY); retry in ${retryAfterSeconds} s`,
    {
      code: 'rate_limited',
      headers: {
        'Retry-After': String(retryAfterSeconds),
        // draft-ietf-httpapi-ratelimit-headers, structured fields.
        RateLimit: `"default";r=0;t=${retryAfterSeconds}`,
        'RateLimit-Policy': `"default";q=${limit};w=1`,
      },
    },
  );
}

/**
 * RATE_LIMIT_PER_KEY in one app: a RateLimiter whose replicas reconcile through Redis every 100 ms,
 * off the request path. Redis down (at start too): each replica limits on its own count, and the
 * app goes on (its readiness does not depend on this Redis).
 */
@Injectable()
export class KeyRateLimits implements RequestLimiter, OnModuleInit, OnApplicationShutdown {
  readonly limiter: RateLimiter;
  private readonly logger = new Logger('RateLimit');
  private readonly refusals: Counter<'limit' | 'tenant'>;
  private readonly syncFailures: Counter;
  private timer: NodeJS.Timeout | undefined;
  private lastError = '';
  private nextConnectAt = 0;

  constructor(
    @Inject(RATE_LIMIT_OPTIONS) options: RateLimitOptions,
    @Inject(RATE_LIMIT_REDIS) private readonly redis: LimitsRedis,
    @Inject(METRICS_REGISTRY) registry: Registry,
    @Inject(RATE_LIMIT_CLOCK) clock: () => number,
    @Inject(RATE_LIMIT_SYNC_MS) private readonly syncMs: number,
  ) {
    this.limiter = new RateLimiter(options.limit, new RedisSharedCounts(redis, `${options.keyPrefix}ratelimit:${options.app}:`), clock);
    this.refusals = quotaRefusals(registry);
    this.syncFailures = new Counter({
      name: 'tm_rate_limit_sync_failures_total',
      help: 'Reconciliations of the per-key request counts with the other replicas that failed (Redis down or slow): each replica limits on its own count meanwhile',
      registers: [registry],
    });
  }

  tryAdmit(keyId: string): boolean {
    return this.limiter.take(keyId);
  }

  admit(keyId: string, tenant: string | null): void {
    if (this.limiter.take(keyId)) return;
    this.refusals.inc({ limit: 'rate', tenant: tenant ?? '-' });
    throw rateLimited(this.limiter.limit, this.limiter.secondsToReset());
  }

  /** One reconciliation with the other replicas; a failure is counted and logged (once per distinct error), never thrown. */
  async sync(): Promise<void> {
    try {
      await withTimeout(this.limiter.sync(), SYNC_TIMEOUT_MS, 'Redis (rate limits)');
      if (this.lastError !== '') this.logger.log('rate limits: reconciling through Redis again');
      this.lastError = '';
    } catch (e) {
      this.syncFailures.inc();
      const message = e instanceof Error ? e.message : String(e);
      if (message !== this.lastError) this.logger.warn(`rate limits: counted on this replica only until Redis answers (${message})`);
      this.lastError = message;
    }
  }

  onModuleInit(): void {
    // node-redis repeats a connection error on every attempt: the sync logs what matters.
    this.redis.on('error', () => undefined);
    this.connect();
    if (this.syncMs > 0) {
      this.timer = setInterval(() => {
        this.connect();
        void this.sync();
      }, this.syncMs);
      this.timer.unref();
    }
  }

  /**
   * Connects in the background, without delaying the start. A single node reconnects by itself once
   * connecting; a cluster whose first discovery failed (Redis down at start) is tried again, every 2 s.
   */
  private connect(): void {
    if (this.redis.isOpen || Date.now() < this.nextConnectAt) return;
    this.nextConnectAt = Date.now() + RECONNECT_MS;
    void this.redis.connect().catch(() => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    // A client that is not connected (Redis down, reconnecting) has nothing to finish: it is dropped, not waited for.
    if (this.redis.isReady) await this.redis.close().catch(() => this.redis.destroy());
    else if (this.redis.isOpen) this.redis.destroy();
  }
}

/**
 * Per-key request limits for an app (global: AuthGuard finds REQUEST_LIMITER wherever it guards).
 * Its Redis client is its own, beside any the app has.
 */
@Module({})
export class RateLimitModule {
  static forRoot(options: RateLimitOptions): DynamicModule {
    return {
      module: RateLimitModule,
      global: true,
      providers: [
        { provide: RATE_LIMIT_OPTIONS, useValue: options },
        { provide: RATE_LIMIT_REDIS, useFactory: () => createLimitsRedis(options.redisUrl) },
        { provide: RATE_LIMIT_CLOCK, useValue: Date.now },
        { provide: RATE_LIMIT_SYNC_MS, useValue: SYNC_INTERVAL_MS },
        KeyRateLimits,
        { provide: REQUEST_LIMITER, useExisting: KeyRateLimits },
      ],
      exports: [REQUEST_LIMITER, KeyRateLimits],
    };
  }
}
