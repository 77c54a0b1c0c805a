import { Inject, Injectable, Logger, Module, type DynamicModule, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import type { CommandApiConfig } from '../config';
import { consoleSite, defaultConsoleDir, hasConsoleIndex, type ConsoleSiteOptions } from './console-site';

const CONSOLE_SITE_OPTIONS = Symbol('CONSOLE_SITE_OPTIONS');

/** Where the console's bundle is: CONSOLE_DIR (validated: it holds index.html), else beside main.js when built there. */
export function consoleSiteOptions(config: Pick<CommandApiConfig, 'CONSOLE_DIR' | 'CONSOLE_RESOLVER_URL'>): ConsoleSiteOptions & { looked: string } {
  const looked = config.CONSOLE_DIR ?? defaultConsoleDir();
  return { dir: hasConsoleIndex(looked) ? looked : undefined, resolverUrl: config.CONSOLE_RESOLVER_URL, looked };
}

/** Adds the console's routes to the app's Fastify instance, outside Nest's controllers (no guard, no OpenAPI entry). */
@Injectable()
class ConsoleSite implements OnModuleInit {
  private readonly logger = new Logger('Console');

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(CONSOLE_SITE_OPTIONS) private readonly options: ReturnType<typeof consoleSiteOptions>,
  ) {}

  onModuleInit(): void {
    const { looked, ...site } = this.options;
    if (site.dir === undefined) this.logger.warn(`the console is not built (no index.html in ${looked}): /console/ answers 404`);
    else this.logger.log(`serving the console from ${site.dir} at /console/`);
    // Loaded with the app's other plugins when Fastify gets ready (after init).
    void this.adapterHost.httpAdapter.getInstance<FastifyInstance>().register(consoleSite, site);
  }
}

/** The web console under /console/ (docs/http-apis.md, "Console"). */
@Module({})
export class ConsoleModule {
  static forRoot(config: CommandApiConfig): DynamicModule {
    return {
      module: ConsoleModule,
      providers: [{ provide: CONSOLE_SITE_OPTIONS, useValue: consoleSiteOptions(config) }, ConsoleSite],
    };
  }
}
