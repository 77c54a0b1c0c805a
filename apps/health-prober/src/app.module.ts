import { Module, type DynamicModule } from '@nestjs/common';
import { PlatformModule } from '@tm/platform';
import { RedisModule, RedisReadiness } from '@tm/route-cache';
import { HealthProberConfig } from './config';
import { ProberService } from './probing/prober.service';
import { ProbingModule } from './probing/probing.module';

@Module({})
export class AppModule {
  static forRoot(config: HealthProberConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        RedisModule.forRoot({ url: config.REDIS_URL }),
        PlatformModule.forRoot({ app: 'health-prober', config, health: { imports: [ProbingModule], checks: [RedisReadiness, ProberService] } }),
        ProbingModule,
      ],
    };
  }
}
