import { main } from '@tm/platform';
import { AppModule } from './app.module';
import { InvalidationWorkerConfig } from './config';

main({
  name: 'invalidation-worker',
  config: InvalidationWorkerConfig,
  module: (config) => AppModule.forRoot(config),
  port: (config) => config.INVALIDATION_WORKER_PORT,
});
