import { Module, type DynamicModule } from '@nestjs/common';
import { PlatformModule } from '@tm/platform';
import { DatabaseModule, PostgresReadiness } from '@tm/persistence';
import { RedisModule, RedisReadiness } from '@tm/route-cache';
import { ResolverConfig } from './config';

@Module({})
export class AppModule {
  static forRoot(config: ResolverConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        DatabaseModule.forRoot({ url: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE, applicationName: 'resolver' }),
        RedisModule.forRoot({ url: config.REDIS_URL }),
        PlatformModule.forRoot({ app: 'resolver', config, health: { checks: [PostgresReadiness, RedisReadiness] } }),
      ],
    };
  }
}
