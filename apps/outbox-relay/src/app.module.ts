import { Module, type DynamicModule } from '@nestjs/common';
import { PlatformModule } from '@tm/platform';
import { DatabaseModule, PostgresReadiness } from '@tm/persistence';
import { kafkaOptions, KafkaModule, KafkaReadiness } from '@tm/messaging';
import { OutboxRelayConfig } from './config';
import { RelayModule } from './relay/relay.module';

@Module({})
export class AppModule {
  static forRoot(config: OutboxRelayConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        DatabaseModule.forRoot({ url: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE, applicationName: 'outbox-relay' }),
        KafkaModule.forRoot(kafkaOptions(config, 'outbox-relay')),
        PlatformModule.forRoot({ app: 'outbox-relay', config, health: { checks: [PostgresReadiness, KafkaReadiness] } }),
        RelayModule,
      ],
    };
  }
}
