import { main } from '@tm/platform';
import { AppModule } from './app.module';
import { commandApiBodyLimits, CommandApiConfig } from './config';

main({
  name: 'command-api',
  config: CommandApiConfig,
  module: (config) => AppModule.forRoot(config),
  port: (config) => config.COMMAND_API_PORT,
  bodyLimits: commandApiBodyLimits,
  openApi: {
    title: 'Traffic Manager command API',
    description: 'Writes routes, tenants and API keys (docs/guarantees.md, "Command API").',
  },
});
