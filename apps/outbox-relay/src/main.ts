import { main } from '@tm/platform';
import { AppModule } from './app.module';
import { OutboxRelayConfig } from './config';

main({
  name: 'outbox-relay',
  config: OutboxRelayConfig,
  module: (config) => AppModule.forRoot(config),
  port: (config) => config.OUTBOX_RELAY_PORT,
});
