import { Module, type DynamicModule } from '@nestjs/common';
import { AuthModule, OutageCredentials } from '@tm/auth';
import { RateLimitModule } from '@tm/limits';
import { DatabaseModule, PostgresReadiness } from '@tm/persistence';
import { corsOrigins, PlatformModule } from '@tm/platform';
import { RedisModule, RedisReadiness } from '@tm/route-cache';
import { RedisOutageCredentials } from './auth/redis-outage-credentials';
import { ResolverConfig } from './config';
import { DnsModule } from './dns/dns.module';
import { RouteHealthModule } from './health/route-health.module';
import { ResolveModule } from './resolve/resolve.module';
import { WatchModule } from './watch/watch.module';

@Module({})
export class AppModule {
  static forRoot(config: ResolverConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        DatabaseModule.forRoot({ url: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE, applicationName: 'resolver' }),
        RedisModule.forRoot({ url: config.REDIS_URL }),
        AuthModule.forRoot(
          { adminToken: config.TM_ADMIN_TOKEN, cacheTtlMs: config.AUTH_CACHE_TTL_MS, staleGraceMs: config.AUTH_STALE_GRACE_SECONDS * 1000 },
          { provide: OutageCredentials, useClass: RedisOutageCredentials },
        ),
        RateLimitModule.forRoot({ app: 'resolver', limit: config.RATE_LIMIT_PER_KEY, redisUrl: config.REDIS_URL, keyPrefix: config.CACHE_KEY_PREFIX }),
        PlatformModule.forRoot({
          app: 'resolver',
          config,
          corsAllowedOrigins: corsOrigins(config.CORS_ALLOWED_ORIGINS),
          health: { checks: [PostgresReadiness, RedisReadiness] },
          // Answers are the hot path and counted by the metrics: a line each only at LOG_LEVEL=debug;
          // errors (400 and above) are logged, with their request id, at info.
          requestLog: { successLevel: 'debug', bindContext: false },
        }),
        ResolveModule,
        WatchModule,
        RouteHealthModule,
        DnsModule,
      ],
    };
  }
}
