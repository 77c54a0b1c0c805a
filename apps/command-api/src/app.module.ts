import { Module, type DynamicModule } from '@nestjs/common';
import { PlatformModule } from '@tm/platform';
import { DatabaseModule, PostgresReadiness } from '@tm/persistence';
import { CommandApiConfig } from './config';

@Module({})
export class AppModule {
  static forRoot(config: CommandApiConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        DatabaseModule.forRoot({ url: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE, applicationName: 'command-api' }),
        PlatformModule.forRoot({ app: 'command-api', config, health: { checks: [PostgresReadiness] } }),
      ],
    };
  }
}
