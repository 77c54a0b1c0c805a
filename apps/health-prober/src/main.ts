import { main } from '@tm/platform';
import { AppModule } from './app.module';
import { HealthProberConfig } from './config';

main({
  name: 'health-prober',
  config: HealthProberConfig,
  module: (config) => AppModule.forRoot(config),
  port: (config) => config.HEALTH_PROBER_PORT,
});
