import { main } from '@tm/platform';
import { AppModule } from './app.module';
import { ResolverConfig } from './config';

main({
  name: 'resolver',
  config: ResolverConfig,
  module: (config) => AppModule.forRoot(config),
  port: (config) => config.RESOLVER_PORT,
  openApi: {
    title: 'Traffic Manager resolver',
    description: 'Answers which URL to call for a route, from the cache or the database (docs/guarantees.md, "Resolver").',
  },
});
