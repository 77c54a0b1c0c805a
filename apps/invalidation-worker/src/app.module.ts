import { Module, type DynamicModule } from '@nestjs/common';
import { PlatformModule } from '@tm/platform';
import { RedisModule, RedisReadiness } from '@tm/route-cache';
import { kafkaOptions, KafkaModule, KafkaReadiness } from '@tm/messaging';
import { InvalidationWorkerConfig } from './config';
import { WorkerModule } from './worker/worker.module';

@Module({})
export class AppModule {
  static forRoot(config: InvalidationWorkerConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        RedisModule.forRoot({ url: config.REDIS_URL }),
        KafkaModule.forRoot(kafkaOptions(config, 'invalidation-worker')),
        PlatformModule.forRoot({ app: 'invalidation-worker', config, health: { checks: [RedisReadiness, KafkaReadiness] } }),
        WorkerModule,
      ],
    };
  }
}
