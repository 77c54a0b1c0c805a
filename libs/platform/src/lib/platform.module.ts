import { Global, Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import type { BaseAppConfig } from './config';
import { CORS_ALLOWED_ORIGINS } from './cors';
import { HealthModule, type HealthOptions } from './health';
import { loggingModule, type RequestLogOptions } from './logging';
import { MetricsModule } from './metrics';
import { ProblemFilter, validationPipe } from './problem';

export interface PlatformOptions<C extends BaseAppConfig> {
  app: string;
  /** The validated configuration; injectable everywhere under its class. */
  config: C;
  health: HealthOptions;
  /** Origins allowed to call the app's HTTP API cross-origin (CORS_ALLOWED_ORIGINS); none: no CORS headers. */
  corsAllowedOrigins?: readonly string[];
  /** How HTTP requests are logged (default: a line per request at info, each line bound to its request). */
  requestLog?: RequestLogOptions;
}

/**
 * What every app has: its typed configuration, JSON logs, /metrics, /health/{live,ready}, the global
 * ValidationPipe and the problem+json exception filter.
 */
@Global()
@Module({})
export class PlatformModule {
  static forRoot<C extends BaseAppConfig>(options: PlatformOptions<C>): DynamicModule {
    const configProvider = { provide: options.config.constructor, useValue: options.config };
    return {
      module: PlatformModule,
      imports: [
        loggingModule(options.app, options.config.LOG_LEVEL, options.requestLog),
        MetricsModule.forRoot(options.app),
        HealthModule.register(options.health),
      ],
      providers: [
        configProvider,
        { provide: CORS_ALLOWED_ORIGINS, useValue: options.corsAllowedOrigins ?? [] },
        { provide: APP_PIPE, useFactory: validationPipe },
        { provide: APP_FILTER, useClass: ProblemFilter },
      ],
      exports: [configProvider],
    };
  }
}
