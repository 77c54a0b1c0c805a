import { Module, type DynamicModule } from '@nestjs/common';
import { AuthModule } from '@tm/auth';
import { DatabaseModule, PostgresReadiness } from '@tm/persistence';
import { PlatformModule } from '@tm/platform';
import { RedisModule, RedisReadiness } from '@tm/route-cache';
import { ResolverConfig } from './config';
import { ResolveModule } from './resolve/resolve.module';

@Module({})
export class AppModule {
  static forRoot(config: ResolverConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        DatabaseModule.forRoot({ url: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE, applicationName: 'resolver' }),
        RedisModule.forRoot({ url: config.REDIS_URL }),
        AuthModule.forRoot({ adminToken: config.TM_ADMIN_TOKEN, cacheTtlMs: config.AUTH_CACHE_TTL_MS }),
        PlatformModule.forRoot({ app: 'resolver', config, health: { checks: [PostgresReadiness, RedisReadiness] } }),
        ResolveModule,
      ],
    };
  }
}
