import {
  Inject,
  Injectable,
  Logger,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { createClient, type RedisClientType } from 'redis';
import { withTimeout, type ReadinessCheck } from '@tm/platform';

/** The app's node-redis client. */
export const REDIS_CLIENT = Symbol('REDIS_CLIENT');
export type RedisClient = RedisClientType;

export interface RedisOptions {
  url: string;
}

/**
 * The client has no per-command timeout of its own: node-redis's (an AbortSignal.timeout per
 * command) is costly on the hot path. The cache protocol bounds its commands itself
 * (RouteCache, `withDeadline`); the readiness check bounds its PING.
 */
export function createRedisClient(options: RedisOptions): RedisClient {
  return createClient({
    url: options.url,
    socket: {
      connectTimeout: 2_000,
      // Keep trying, at most every 2 s, for as long as the app runs.
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2_000),
    },
    commandOptions: { timeout: 0 },
    // Commands issued while Redis is down fail at once instead of queueing.
    disableOfflineQueue: true,
  }) as RedisClient;
}

/** Connects at start (without waiting: the app must come up while Redis is down) and quits at shutdown. */
@Injectable()
export class RedisLifecycle implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Redis');
  private lastError = '';

  constructor(@Inject(REDIS_CLIENT) private readonly client: RedisClient) {}

  onModuleInit(): void {
    this.client.on('error', (e: Error) => {
      // node-redis repeats the error on every reconnect attempt; log each distinct one once.
      if (e.message !== this.lastError) this.logger.warn(`redis: ${e.message}`);
      this.lastError = e.message;
    });
    this.client.on('ready', () => {
      this.lastError = '';
      this.logger.log('redis: ready');
    });
    this.client.connect().catch((e: unknown) => this.logger.warn(`redis: first connect failed: ${String(e)}`));
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.client.isOpen) await this.client.close();
  }
}

/** Ready when Redis answers PING within half a second. */
@Injectable()
export class RedisReadiness implements ReadinessCheck {
  readonly name = 'redis';

  constructor(@Inject(REDIS_CLIENT) private readonly client: RedisClient) {}

  async check(): Promise<void> {
    if (!this.client.isReady) throw new Error('Redis is not connected');
    await withTimeout(this.client.ping(), 500, 'Redis');
  }
}

@Module({})
export class RedisModule {
  static forRoot(options: RedisOptions): DynamicModule {
    return {
      module: RedisModule,
      global: true,
      providers: [
        { provide: REDIS_CLIENT, useFactory: () => createRedisClient(options) },
        RedisLifecycle,
        RedisReadiness,
      ],
      exports: [REDIS_CLIENT, RedisReadiness],
    };
  }
}
