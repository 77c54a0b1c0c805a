import { Module, type DynamicModule } from '@nestjs/common';
import { AuthModule } from '@tm/auth';
import { RateLimitModule } from '@tm/limits';
import { KafkaModule, kafkaOptions } from '@tm/messaging';
import { DatabaseModule, PostgresReadiness } from '@tm/persistence';
import { corsOrigins, PlatformModule } from '@tm/platform';
import { ApiKeysModule } from './api-keys/api-keys.module';
import { AuditModule } from './audit/audit.module';
import { ChangesModule } from './changes/changes.module';
import { CommandApiConfig } from './config';
import { ConsoleModule } from './console/console.module';
import { PropagationModule } from './propagation/propagation.module';
import { RoutesModule } from './routes/routes.module';
import { TenantsModule } from './tenants/tenants.module';

@Module({})
export class AppModule {
  static forRoot(config: CommandApiConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        DatabaseModule.forRoot({ url: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE, applicationName: 'command-api' }),
        // The write API asks the database on every request: a revoked key stops at once.
        AuthModule.forRoot({ adminToken: config.TM_ADMIN_TOKEN, cacheTtlMs: 0 }),
        // Its Redis is not a readiness check: writes go on without it (each replica then limits on its own count).
        RateLimitModule.forRoot({ app: 'command-api', limit: config.RATE_LIMIT_PER_KEY, redisUrl: config.REDIS_URL, keyPrefix: config.CACHE_KEY_PREFIX }),
        // Kafka for the propagation status only (its Redis client is its own): not a readiness check
        // either (a status counts what does not answer as not done; writes never wait on it).
        KafkaModule.forRoot(kafkaOptions(config, 'command-api')),
        PlatformModule.forRoot({
          app: 'command-api',
          config,
          corsAllowedOrigins: corsOrigins(config.CORS_ALLOWED_ORIGINS),
          health: { checks: [PostgresReadiness] },
        }),
        PropagationModule,
        RoutesModule,
        ChangesModule,
        AuditModule,
        TenantsModule,
        ApiKeysModule,
        ConsoleModule.forRoot(config),
      ],
    };
  }
}
